import LockVerification
import Testing

/// Nanoseconds from seconds, for readable synthetic histories.
private func at(_ seconds: Double) -> UInt64 { UInt64(seconds * 1e9) }

/// A synthetic run: histories, samples and faults, with liveness rules of TTL 2 s, recovery 5 s,
/// margin 2 s and a withdrawal grace of 8 s.
private struct LivenessRun {
    var events: [HistoryEvent] = []
    var samples: [QueueSample] = []
    var faults: [InjectedFault] = []
    var exits: [ClientProcess: UInt64] = [:]
    var pauses: [Int: [ClosedRange<UInt64>]] = [:]

    mutating func step(_ client: Int, _ time: Double, lock: Int = 0, locker: Int = 0, _ step: ClientStep) {
        events.append(HistoryEvent(client: client, incarnation: 0, time: at(time), lock: lock, locker: locker, step: step))
    }

    /// One hold of `lock` by `client`: lock() at `start`, acquired at `acquired`, released at `end`.
    mutating func hold(_ client: Int, lock: Int = 0, _ start: Double, _ acquired: Double, _ end: Double) {
        step(client, start, lock: lock, .lockStart)
        step(client, acquired, lock: lock, .acquired(token: Int64(acquired * 1000)))
        step(client, end, lock: lock, .released(token: Int64(acquired * 1000)))
    }

    mutating func sample(_ time: Double, lock: Int = 0, leases: [Int64]) {
        let keys = leases.enumerated().map { QueueKey(lease: $0.element, createRevision: Int64(100 + $0.offset)) }
        samples.append(QueueSample(lock: lock, sent: at(time), received: at(time + 0.01), keys: keys))
    }

    /// The outcome of the check named `prefix…`; with `lock`, for that lock's record alone (its
    /// events and samples, as `etcdlock verify` builds one record per lock).
    func outcome(_ prefix: String, lock: Int? = nil) -> CheckOutcome? {
        let chosen = events.filter { lock == nil || $0.lock == lock || $0.step.concernsEveryLock }
        var record = VerificationRecord(events: chosen.sorted { $0.time < $1.time }, registerWrites: [], finalCount: 0, pauses: pauses)
        if let lock { record.lock = lock }
        record.samples = samples.filter { lock == nil || $0.lock == lock }
        record.faults = faults
        record.exits = exits
        record.liveness = LivenessRules(ttl: .seconds(2), recovery: .seconds(5), margin: .seconds(2), withdrawalGrace: .seconds(8))
        return HistoryChecker.check(record).first { $0.name.hasPrefix(prefix) }
    }
}

@Suite("liveness checks: phantom keys and stalls", .timeLimit(.minutes(1)))
struct LivenessCheckTests {
    @Test("a key whose owner has waited for and held nothing for longer than the grace is a phantom")
    func phantomFound() throws {
        var run = LivenessRun()
        run.step(0, 1, .session(lease: 0xA))
        run.hold(0, 2, 2.1, 3)
        // Client 0 stays alive and busy with lock 1 only.
        for second in stride(from: 4.0, to: 60, by: 2) { run.hold(0, lock: 1, second, second + 0.1, second + 0.5) }
        run.sample(5, leases: [0xA])  // within the withdrawal grace: not yet a phantom
        run.sample(30, leases: [0xA])
        run.sample(31, leases: [0xA])
        let outcome = try #require(run.outcome("no phantom keys"))
        #expect(outcome.violationCount == 1)
        #expect(outcome.violations.first?.contains("lease a (client 0.0") == true)
        #expect(outcome.violations.first?.contains("in 2 samples") == true)
    }

    @Test("through the lock service a key is its attempt's, named by its value: waiting or holding explains it, an old attempt does not")
    func keysNamedByOwnerText() throws {
        var run = LivenessRun()
        // No session lines: each attempt's lease is the service's until it answers.
        run.hold(0, 2, 3, 4)  // attempt 0 of client 0's locker 0
        run.step(0, 20, .lockStart)  // attempt 1: waits across the sample at 25, then fails
        run.step(0, 28, .lockFailed(code: "timeout"))
        func key(_ tag: String, lease: Int64) -> QueueKey { QueueKey(lease: lease, createRevision: lease, owner: tag) }
        let process = ClientProcess(client: 0, incarnation: 0)
        let waiting = key(LockAttempt.ownerTag(of: process, locker: 0, lock: 0, sequence: 1), lease: 0x77)
        run.samples.append(QueueSample(lock: 0, sent: at(25), received: at(25.01), keys: [waiting]))
        #expect(try #require(run.outcome("no phantom keys")).passed)
        // Attempt 0 ended at 4 s with its release: its key at 40 s blocks the lock for no one.
        let stale = key(LockAttempt.ownerTag(of: process, locker: 0, lock: 0, sequence: 0), lease: 0x55)
        run.samples.append(QueueSample(lock: 0, sent: at(40), received: at(40.01), keys: [stale]))
        let outcome = try #require(run.outcome("no phantom keys"))
        #expect(outcome.violationCount == 1)
        #expect(outcome.violations.first?.contains("client 0.0") == true, "\(outcome.violations)")
    }

    @Test("through the lock service with several locks, each lock's record numbers its attempts as the client did")
    func ownerTextsPerLock() throws {
        var run = LivenessRun()
        let process = ClientProcess(client: 0, incarnation: 0)
        // One locker alternating between two locks: attempts 0 and 1 on lock 1 are its 2nd and 4th.
        run.hold(0, lock: 0, 1, 1.1, 2)
        run.hold(0, lock: 1, 3, 3.1, 4)
        run.hold(0, lock: 0, 5, 5.1, 6)
        run.step(0, 7, lock: 1, .lockStart)
        run.step(0, 30, lock: 1, .lockFailed(code: "timeout"))
        let waiting = QueueKey(lease: 0x99, createRevision: 500, owner: LockAttempt.ownerTag(of: process, locker: 0, lock: 1, sequence: 1))
        run.samples.append(QueueSample(lock: 1, sent: at(20), received: at(20.01), keys: [waiting]))
        #expect(try #require(run.outcome("no phantom keys", lock: 1)).passed)
    }

    @Test("keys of waiters, holders, recently killed and frozen owners are not phantoms; a killed owner's key past its TTL is")
    func legitimateKeys() throws {
        var run = LivenessRun()
        run.step(0, 1, .session(lease: 0xA))
        run.step(1, 1, .session(lease: 0xB))
        run.step(2, 1, .session(lease: 0xC))
        run.step(3, 1, .session(lease: 0xD))
        run.hold(0, 20, 21, 40)  // holds across the sample
        run.step(1, 25, .lockStart)  // waits across the sample, then fails
        run.step(1, 35, .lockFailed(code: "timeout"))
        run.step(2, 5, .lockStart)
        run.exits[ClientProcess(client: 2, incarnation: 0)] = at(29)  // killed while waiting
        run.step(3, 10, .lockStart)
        run.step(3, 12, .acquired(token: 12))
        run.pauses[3] = [at(26)...at(33)]  // frozen while holding
        run.sample(30, leases: [0xA, 0xB, 0xC, 0xD])
        #expect(try #require(run.outcome("no phantom keys")).passed)
        run.sample(45, leases: [0xC])  // 16 s after client 2 died: its lease is long gone
        let outcome = try #require(run.outcome("no phantom keys"))
        #expect(outcome.violationCount == 1)
        #expect(outcome.violations.first?.contains("client 2.0") == true)
    }

    @Test("a long stall with a phantom at the head and no fault fails, and names the phantom")
    func unexplainedStall() throws {
        var run = LivenessRun()
        run.step(0, 1, .session(lease: 0xA))
        run.step(1, 1, .session(lease: 0xB))
        run.hold(0, 2, 2.1, 3)
        for second in stride(from: 4.0, to: 60, by: 2) { run.hold(0, lock: 1, second, second + 0.1, second + 0.5) }
        run.hold(1, 10, 40, 41)  // waited 30 s for a free lock
        run.sample(20, leases: [0xA, 0xB])
        let outcome = try #require(run.outcome("every stall"))
        #expect(outcome.violationCount == 1)
        #expect(outcome.violations.first?.hasPrefix("unexplained stall of 30.00 s") == true)
        #expect(outcome.violations.first?.contains("PHANTOM head key of idle client 0.0") == true)
    }

    @Test("a frozen holder stalls the lock until its TTL: explained by the pause fault, or by its lease while it may live")
    func frozenHolder() throws {
        var run = LivenessRun()
        run.step(0, 1, .session(lease: 0xA))
        run.step(1, 1, .session(lease: 0xB))
        run.hold(0, 50, 50.1, 56)  // believes it holds until it wakes up
        run.pauses[0] = [at(51)...at(55)]
        run.hold(1, 50.5, 53.5, 54)
        run.hold(0, 2, 2.2, 3)
        run.hold(1, 2.5, 3.001, 4)  // an ordinary handoff: 1 ms
        let unsampled = try #require(run.outcome("every stall"))
        #expect(unsampled.violationCount == 1)
        #expect(unsampled.violations.first?.contains("2.50 s from") == true)
        run.sample(52, leases: [0xA, 0xB])
        let sampled = try #require(run.outcome("every stall"))
        #expect(sampled.passed, "\(sampled.violations)")
        #expect(sampled.detail.contains("4 stalls; longest stall 2.50 s"))
        #expect(sampled.detail.contains("head key of frozen client 0.0"))
        run.samples = []
        run.faults = [InjectedFault(kind: .pauseClient, target: 0, start: at(51), end: at(55))]
        #expect(try #require(run.outcome("every stall")).passed)
    }

    @Test("a dead owner's key past its TTL stalls the lock: explained only while leader changes keep its lease alive")
    func leaseKeptByLeaderChanges() throws {
        var run = LivenessRun()
        run.step(0, 1, .session(lease: 0xA))
        run.step(1, 1, .session(lease: 0xB))
        run.step(0, 10, .lockStart)
        run.step(0, 10.1, .acquired(token: 10))
        run.exits[ClientProcess(client: 0, incarnation: 0)] = at(11)  // killed while holding
        run.hold(1, 10.5, 22, 23)
        run.sample(12, leases: [0xA, 0xB])
        run.sample(20, leases: [0xA, 0xB])  // 9 s after the kill: TTL 2 s + margin 2 s are long past
        let alone = try #require(run.outcome("every stall"))
        #expect(alone.violationCount == 1)
        #expect(alone.violations.first?.contains("11.00 s from 11.00 s") == true)
        #expect(try #require(run.outcome("no phantom keys")).violationCount == 1)
        // A new leader at 14 s renews every lease: alive until 15 + recovery 5 + TTL 2 + margin 2 = 24 s.
        run.faults = [InjectedFault(kind: .killLeader, target: 1, start: at(14), end: at(15))]
        let kept = try #require(run.outcome("every stall"))
        #expect(kept.passed, "\(kept.violations)")
        #expect(kept.detail.contains("kept alive by leader changes"))
        #expect(try #require(run.outcome("no phantom keys")).passed)
    }

    @Test("a stall is judged stretch by stretch: gone owners' keys explain theirs, a long stretch with a live waiter at the head does not")
    func stretches() throws {
        var run = LivenessRun()
        for client in 0..<3 { run.step(client, 1, .session(lease: Int64(0xA + client))) }
        run.step(0, 10, .lockStart)
        run.step(0, 10.1, .acquired(token: 10))
        run.exits[ClientProcess(client: 0, incarnation: 0)] = at(11)  // killed while holding
        run.step(1, 10.5, .lockStart)  // the next in line, alive and waiting
        run.hold(2, 10.6, 24, 25)
        run.sample(12, leases: [0xA, 0xB, 0xC])
        run.sample(14.5, leases: [0xB, 0xC])  // client 1 heads the queue but is not told
        run.exits[ClientProcess(client: 1, incarnation: 0)] = at(15)  // then killed
        run.sample(20, leases: [0xB, 0xC])
        run.faults = [InjectedFault(kind: .killLeader, target: 1, start: at(13), end: at(14))]  // leases live to 25 s
        let short = try #require(run.outcome("every stall"))
        #expect(short.passed, "\(short.violations)")  // the live waiter's stretch (12 → 20 s) is within the leader kill's allowance
        run.exits[ClientProcess(client: 1, incarnation: 0)] = at(22)
        run.samples.removeLast()
        run.sample(23, leases: [0xB, 0xC])
        let long = try #require(run.outcome("every stall"))
        #expect(long.violationCount == 1)
        #expect(long.violations.first?.contains("head key of waiting client 1.0, not yet told it heads the queue") == true)
    }
}
