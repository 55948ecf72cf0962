import LockVerification
import Testing

/// Builds a consistent record of `holds` lock holds by alternating clients, then lets a test
/// break one thing.
private struct RecordBuilder {
    var events: [HistoryEvent] = []
    var writes: [RegisterWrite] = []
    var time: UInt64 = 1_000

    init(holds: Int) {
        for hold in 0..<holds {
            let client = hold % 2
            let token = Int64(10 + hold * 3)
            let operation = "c\(client).0.\(hold)"
            step(client, .lockStart)
            step(client, .acquired(token: token))
            step(client, .read(token: token, value: hold))
            step(client, .writeStart(token: token, value: hold + 1, operation: operation))
            step(client, .writeAccepted(token: token, operation: operation))
            step(client, .released(token: token))
            writes.append(
                RegisterWrite(
                    revision: token + 1, value: RegisterValue(count: hold + 1, token: token, operation: operation),
                    holderToken: token))
        }
    }

    mutating func step(_ client: Int, _ step: ClientStep) {
        time += 1_000
        events.append(HistoryEvent(client: client, incarnation: 0, time: time, step: step))
    }

    var record: VerificationRecord {
        VerificationRecord(events: events, registerWrites: writes, finalCount: writes.count)
    }
}

private func failed(_ record: VerificationRecord) -> [String] {
    HistoryChecker.check(record).filter { !$0.passed }.map(\.name)
}

@Suite("history checker", .timeLimit(.minutes(1)))
struct HistoryCheckerTests {
    @Test("a consistent history passes every check")
    func consistent() {
        let outcomes = HistoryChecker.check(RecordBuilder(holds: 20).record)
        #expect(outcomes.count == 9)
        #expect(outcomes.allSatisfy { $0.passed })
    }

    @Test("history lines round-trip through text")
    func lines() {
        let steps: [ClientStep] = [
            .session(lease: 0x7a3), .lockStart, .acquired(token: 5), .lockFailed(code: "timeout"), .read(token: 5, value: 3),
            .writeStart(token: 5, value: 4, operation: "c1.2.3"), .writeAccepted(token: 5, operation: "c1.2.3"),
            .writeRejected(token: 5, operation: "c1.2.3"), .writeFailed(token: 5, operation: "c1.2.3", code: "unavailable"),
            .writeUnknown(token: 5, operation: "c1.2.3", code: "timeout"), .released(token: 5),
            .releaseFailed(token: 5, code: "timeout"), .error(code: "no_leader"), .untypedError(message: "boom here"), .stopped,
        ]
        for step in steps {
            let line = HistoryEvent.line(step, at: 99)
            #expect(HistoryEvent(client: 1, incarnation: 2, line: line) == HistoryEvent(client: 1, incarnation: 2, time: 99, step: step))
        }
        #expect(HistoryEvent(client: 0, incarnation: 0, line: "not a history line") == nil)
        #expect(RegisterValue(parsing: RegisterValue(count: 3, token: 9, operation: "c0.0.1").text)?.count == 3)
    }

    @Test("several locks: each is checked on its own, and a violation on one fails the merged check")
    func severalLocks() {
        let clean = RecordBuilder(holds: 5).record
        var broken = RecordBuilder(holds: 5)
        broken.writes[2].holderToken = 99
        let outcomes = HistoryChecker.check(locks: [clean, broken.record])
        #expect(outcomes.count == 9)
        let failedOutcome = outcomes.first { !$0.passed }
        #expect(failedOutcome?.name == "each write applied while its writer held the lock")
        #expect(failedOutcome?.violations.first?.hasPrefix("lock 1: ") == true)
        #expect(HistoryChecker.check(locks: [clean, clean]).allSatisfy { $0.passed })
        let line = HistoryEvent.line(.acquired(token: 7), lock: 3, at: 5)
        #expect(HistoryEvent(client: 0, incarnation: 0, line: line)?.lock == 3)
        #expect(HistoryEvent(client: 0, incarnation: 0, line: "5 @x acquired 7") == nil)
        let withLocker = HistoryEvent(client: 0, incarnation: 0, line: HistoryEvent.line(.lockStart, lock: 2, locker: 4, at: 9))
        #expect(withLocker?.lock == 2 && withLocker?.locker == 4)
    }

    @Test("a lost update (two writers wrote the same count) fails the register check")
    func lostUpdate() {
        var builder = RecordBuilder(holds: 6)
        builder.writes[3].value?.count = 3
        #expect(failed(builder.record) == ["the register equals the number of applied increments"])
    }

    @Test("an acknowledged write missing from etcd, or a rejected one applied, fails the outcome check")
    func outcomes() {
        var lost = RecordBuilder(holds: 4)
        lost.writes.removeLast()
        #expect(failed(lost.record).contains("every write's outcome matches etcd's history"))

        var rejectedButApplied = RecordBuilder(holds: 4)
        rejectedButApplied.step(0, .writeRejected(token: 10, operation: "c0.0.0"))
        #expect(failed(rejectedButApplied.record) == ["every write's outcome matches etcd's history"])

        var doubled = RecordBuilder(holds: 4)
        doubled.writes.append(RegisterWrite(revision: 100, value: RegisterValue(count: 5, token: 40, operation: "c1.0.3"), holderToken: 40))
        #expect(failed(doubled.record).contains("every write's outcome matches etcd's history"))
    }

    @Test("an unknown outcome may or may not have applied")
    func unknownOutcome() {
        var builder = RecordBuilder(holds: 3)
        builder.step(1, .writeUnknown(token: 16, operation: "c0.0.2", code: "timeout"))
        builder.events.removeAll { $0.step == .writeAccepted(token: 16, operation: "c0.0.2") }
        #expect(failed(builder.record).isEmpty)
        builder.writes.removeLast()
        #expect(failed(builder.record).isEmpty)
    }

    @Test("a write under an older token after a newer one fails the token and holder checks")
    func staleWrite() {
        var builder = RecordBuilder(holds: 4)
        let stale = RegisterValue(count: 5, token: 13, operation: "c1.0.9")
        builder.step(1, .writeStart(token: 13, value: 5, operation: "c1.0.9"))
        builder.step(1, .writeAccepted(token: 13, operation: "c1.0.9"))
        builder.writes.append(RegisterWrite(revision: 50, value: stale, holderToken: nil))
        let failures = failed(builder.record)
        #expect(failures.contains("accepted tokens strictly increase"))
        #expect(failures.contains("each write applied while its writer held the lock"))
    }

    @Test("a holder acquiring before the previous holder's write was sent fails the overlap check")
    func overlap() {
        var builder = RecordBuilder(holds: 3)
        let index = builder.events.firstIndex { $0.step == .acquired(token: 13) }!
        builder.events[index].time = 1_500
        #expect(failed(builder.record) == ["accepted critical sections do not overlap"])
    }

    @Test("an operation past its deadline fails the client check, unless its client was paused meanwhile")
    func slowOperation() {
        var builder = RecordBuilder(holds: 2)
        builder.step(0, .lockStart)
        builder.time += 20_000_000_000
        builder.step(0, .lockFailed(code: "timeout"))
        var record = builder.record
        record.limits = OperationLimits(lock: .seconds(16), write: .seconds(8))
        #expect(failed(record) == ["client errors are typed; no crash, no hang"])
        record.pauses = [0: [(builder.time - 10_000_000_000)...(builder.time - 5_000_000_000)]]
        #expect(failed(record).isEmpty)
        record.pauses = [1: [(builder.time - 10_000_000_000)...(builder.time - 5_000_000_000)]]
        #expect(failed(record) == ["client errors are typed; no crash, no hang"])
        record.limits = nil
        #expect(failed(record).isEmpty)
    }

    @Test("leftovers, untyped errors, crashes and hangs each fail; unreadable history fails")
    func stateAndClients() {
        var builder = RecordBuilder(holds: 2)
        var record = builder.record
        record.leftoverKeys = ["/etcdlock/default/lock/x/1"]
        #expect(failed(record) == ["no waiter keys or leases are left behind"])
        builder.step(0, .untypedError(message: "Foundation error"))
        record = builder.record
        record.hangs = ["client 1.0 silent for 31 s"]
        let outcome = HistoryChecker.check(record).first { !$0.passed }
        #expect(outcome?.violationCount == 2)
        record = builder.record
        record.registerWrites = nil
        #expect(failed(record).count == 6)
    }
}
