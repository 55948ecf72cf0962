import LockVerification
import Testing

/// Nanoseconds from seconds, for readable synthetic histories.
private func at(_ seconds: Double) -> UInt64 { UInt64(seconds * 1e9) }

/// A synthetic run of a read/write lock or a semaphore: histories plus etcd's history of the
/// register and of the queue's holders, consistent until a test breaks one thing.
private struct RecipeRun {
    var recipe: VerifiedRecipe
    var events: [HistoryEvent] = []
    var writes: [RegisterWrite] = []
    var readHolders: [Int64: [Int64]]? = [:]
    private var operations = 0

    init(_ recipe: VerifiedRecipe) { self.recipe = recipe }

    mutating func step(_ client: Int, _ time: Double, _ step: ClientStep) {
        events.append(HistoryEvent(client: client, incarnation: 0, time: at(time), step: step))
    }

    /// A fenced write of `count` under `token`, sent at `time`, applied at `revision` while
    /// `holders` held (the writer among them unless a test says otherwise).
    mutating func write(_ client: Int, _ time: Double, token: Int64, count: Int, revision: Int64, holders: [Int64]? = nil) {
        operations += 1
        let operation = "c\(client).0.\(operations)"
        step(client, time, .writeStart(token: token, value: count, operation: operation))
        step(client, time + 0.01, .writeAccepted(token: token, operation: operation))
        writes.append(
            RegisterWrite(
                revision: revision, value: RegisterValue(count: count, token: token, operation: operation),
                holderTokens: holders ?? [token]))
    }

    /// A fenced read under `token` sent at `time`, answered at `revision` with `value`.
    mutating func read(_ client: Int, _ time: Double, token: Int64, value: Int, revision: Int64) {
        step(client, time, .readSent(token: token))
        step(client, time + 0.01, .readAccepted(token: token, value: value, revision: revision))
        readHolders?[revision, default: []].append(token)
    }

    /// Acquires `token` at `acquired` (asked for 50 ms earlier), releases it at `released`.
    mutating func hold(_ client: Int, token: Int64, _ acquired: Double, _ released: Double) {
        step(client, acquired - 0.05, .lockStart)
        step(client, acquired, .acquired(token: token))
        step(client, released, .released(token: token))
    }

    /// One semaphore section: acquired at `acquired`, entry write at revision `enter`, leaving
    /// write sent at `leaving` and applied at revision `leave`.
    mutating func permit(_ client: Int, token: Int64, _ acquired: Double, _ leaving: Double, enter: Int64, leave: Int64) {
        hold(client, token: token, acquired, leaving + 0.05)
        write(client, acquired + 0.01, token: token, count: 1, revision: enter)
        write(client, leaving, token: token, count: 2, revision: leave)
    }

    var record: VerificationRecord {
        var record = VerificationRecord(
            events: events.sorted { $0.time < $1.time }, registerWrites: writes.sorted { $0.revision < $1.revision },
            finalCount: writes.max { $0.revision < $1.revision }?.value?.count ?? 0)
        record.recipe = recipe
        record.readHolders = readHolders
        return record
    }

    var failed: [String] { HistoryChecker.check(record).filter { !$0.passed }.map(\.name) }

    func outcome(_ prefix: String) -> CheckOutcome? {
        HistoryChecker.check(record).first { $0.name.hasPrefix(prefix) }
    }
}

/// Two writers and three readers, two of whom share the lock: consistent.
private func readWriteRun() -> RecipeRun {
    var run = RecipeRun(.readWriteLock)
    run.hold(0, token: 10, 1.0, 1.2)
    run.step(0, 1.05, .read(token: 10, value: 0))
    run.write(0, 1.1, token: 10, count: 1, revision: 11)
    run.hold(1, token: 13, 1.3, 1.6)  // reads at revisions 14 and 18
    run.read(1, 1.31, token: 13, value: 1, revision: 14)
    run.hold(2, token: 15, 1.4, 1.7)  // shares the lock with client 1
    run.read(2, 1.41, token: 15, value: 1, revision: 16)
    run.read(1, 1.5, token: 13, value: 1, revision: 18)
    run.read(2, 1.6, token: 15, value: 1, revision: 17)
    run.hold(0, token: 19, 1.8, 1.95)
    run.step(0, 1.85, .read(token: 19, value: 1))
    run.write(0, 1.9, token: 19, count: 2, revision: 20)
    run.hold(1, token: 22, 2.0, 2.3)
    run.read(1, 2.01, token: 22, value: 2, revision: 23)
    run.read(1, 2.2, token: 22, value: 2, revision: 24)
    return run
}

/// Four permit sections of a 2-permit semaphore, never more than two at once: consistent.
private func semaphoreRun(permits: Int = 2) -> RecipeRun {
    var run = RecipeRun(.semaphore(permits: permits))
    run.permit(0, token: 10, 1.0, 2.0, enter: 11, leave: 20)
    run.permit(1, token: 12, 1.1, 1.5, enter: 13, leave: 16)
    run.permit(2, token: 17, 1.6, 2.5, enter: 18, leave: 25)
    run.permit(1, token: 21, 2.1, 3.0, enter: 22, leave: 30)
    return run
}

@Suite("recipe checks: read/write lock and semaphore")
struct RecipeCheckTests {
    @Test("a consistent read/write history passes all 11 checks, overlapping readers included")
    func readWriteConsistent() throws {
        let outcomes = HistoryChecker.check(readWriteRun().record)
        #expect(outcomes.count == 11)
        #expect(outcomes.filter { !$0.passed }.map(\.name) == [])
        let sections = try #require(readWriteRun().outcome("no write section overlaps"))
        #expect(sections.detail.contains("2 write sections and 3 read sections compared (at most 2 read sections at once)"))
    }

    @Test("a writer acquiring while a reader's section runs fails the real-time exclusion check")
    func writeOverlapsRead() throws {
        var run = readWriteRun()
        let index = try #require(run.events.firstIndex { $0.step == .acquired(token: 19) })
        run.events[index].time = at(1.45)  // before client 1's last read was sent at 1.5 s
        #expect(run.failed == ["no write section overlaps another section (read sections may overlap)"])
        let violation = try #require(run.outcome("no write section overlaps")?.violations.first)
        #expect(violation.contains("write section of token 19 began"))
    }

    @Test("a reader acquiring inside a writer's section, or a writer inside another's, fails the real-time exclusion check")
    func sectionInsideWrite() throws {
        var reader = readWriteRun()
        let readerIndex = try #require(reader.events.firstIndex { $0.step == .acquired(token: 13) })
        reader.events[readerIndex].time = at(1.05)  // inside writer 10's section (1.0 → 1.1 s)
        #expect(reader.failed == ["no write section overlaps another section (read sections may overlap)"])
        #expect(reader.outcome("no write section")?.violations.first?.hasPrefix("read section of token 13 began 50.00 ms before write section of token 10 ended") == true)
        var writer = readWriteRun()
        let writerIndex = try #require(writer.events.firstIndex { $0.step == .acquired(token: 19) })
        writer.events[writerIndex].time = at(1.05)
        #expect(writer.failed == ["no write section overlaps another section (read sections may overlap)"])
        #expect(writer.outcome("no write section")?.violations.first?.hasPrefix("write section of token 19 began 50.00 ms before write section of token 10 ended") == true)
    }

    @Test("a semaphore stall is a waiter while a permit is free; the same history is no mutex stall")
    func semaphoreStall() throws {
        var run = RecipeRun(.semaphore(permits: 2))
        run.step(0, 0.5, .session(lease: 0xA))
        run.step(1, 0.5, .session(lease: 0xB))
        run.hold(0, token: 10, 1, 30)
        run.hold(1, token: 12, 25, 26)  // asked at 24.95 s
        run.step(1, 5, .lockStart)  // waits 20 s with a permit free: lock() again from 5 s
        run.events.removeAll { $0.client == 1 && $0.step == .lockStart && $0.time == at(24.95) }
        var record = run.record
        record.liveness = LivenessRules(ttl: .seconds(2), recovery: .seconds(5), margin: .seconds(2), withdrawalGrace: .seconds(8))
        let stall = try #require(HistoryChecker.check(record).first { $0.name.hasPrefix("every stall") })
        #expect(stall.violationCount == 1)
        #expect(stall.violations.first?.hasPrefix("unexplained stall of 20.00 s from") == true)
        record.recipe = .mutex
        #expect(try #require(HistoryChecker.check(record).first { $0.name.hasPrefix("every stall") }).passed)
    }

    @Test("a write applied between a reader's two fenced reads fails the read-section check")
    func writeWithinReadSection() throws {
        var run = readWriteRun()
        let position = try #require(run.writes.firstIndex { $0.value?.token == 19 })
        run.writes[position].revision = 15  // inside client 1's reads at 14 and 18
        let failed = run.failed
        #expect(failed == ["reads return etcd's register, and no write applies within a read section"])
        let violations = try #require(run.outcome("reads return etcd's register")).violations
        #expect(violations.contains { $0.contains("applied within the read section of token 13") })
        #expect(violations.contains { $0.contains("etcd's register held 2") })
    }

    @Test("a read returning something else than etcd's register at its revision fails the read-section check")
    func readSawWrongValue() throws {
        var run = readWriteRun()
        let index = try #require(run.events.firstIndex { $0.step == .readAccepted(token: 22, value: 2, revision: 24) })
        run.events[index].step = .readAccepted(token: 22, value: 1, revision: 24)
        #expect(run.failed == ["reads return etcd's register, and no write applies within a read section"])
    }

    @Test("a fenced read answered while a writer was ahead of the reader fails the read-hold check")
    func readerDidNotHold() throws {
        var run = readWriteRun()
        run.readHolders?[16] = [10]
        #expect(run.failed == ["each fenced read was answered while its reader held a read hold"])
        run.readHolders = nil
        #expect(run.failed == ["each fenced read was answered while its reader held a read hold"])
    }

    @Test("a writer's write applied while readers held fails the writer-hold check")
    func writerDidNotHold() {
        var run = readWriteRun()
        run.writes[1].holderTokens = [13, 15]
        #expect(run.failed == ["each write applied while its writer held the lock"])
    }

    @Test("a consistent semaphore history passes all 8 checks")
    func semaphoreConsistent() {
        let outcomes = HistoryChecker.check(semaphoreRun().record)
        #expect(outcomes.count == 8)
        #expect(outcomes.filter { !$0.passed }.map(\.name) == [])
        #expect(outcomes.contains { $0.detail == "4 permit sections, at most 2 interleaved, in 8 writes" })
    }

    @Test("three permit sections interleaving in etcd's history fail the revision check of a 2-permit semaphore")
    func tooManyInHistory() throws {
        var run = semaphoreRun()
        let position = try #require(run.writes.firstIndex { $0.value?.token == 17 && $0.value?.count == 1 })
        run.writes[position].revision = 15  // while 10 and 12 still write
        #expect(run.failed == ["at most 2 permit holders' accepted writes interleave in etcd's history"])
        let violation = try #require(run.outcome("at most 2 permit holders")?.violations.first)
        #expect(violation == "revision 15: tokens 10, 12, 17 all held (3 > 2 permits)")
    }

    @Test("three permit sections overlapping in real time fail the real-time check of a 2-permit semaphore")
    func tooManyInRealTime() throws {
        var run = semaphoreRun()
        let index = try #require(run.events.firstIndex { $0.step == .acquired(token: 17) })
        run.events[index].time = at(1.2)  // while 10 and 12 hold
        #expect(run.failed == ["at most 2 accepted permit sections overlap in real time"])
    }

    @Test("a permit's write applied while its key was not among the first N fails the permit-hold check")
    func writeWithoutPermit() {
        var run = semaphoreRun()
        run.writes[2].holderTokens = [10, 17]
        #expect(run.failed == ["each write applied while its writer held a permit"])
    }

    @Test("the same history passes with more permits and fails both overlap checks with one")
    func permitCount() {
        #expect(semaphoreRun(permits: 3).failed == [])
        #expect(
            semaphoreRun(permits: 1).failed == [
                "at most 1 permit holders' accepted writes interleave in etcd's history",
                "at most 1 accepted permit sections overlap in real time",
            ])
    }

    @Test("new history lines round-trip through text")
    func lines() {
        for step: ClientStep in [.readSent(token: 5), .readAccepted(token: 5, value: 3, revision: 77), .readRejected(token: 5)] {
            let line = HistoryEvent.line(step, at: 99)
            #expect(HistoryEvent(client: 1, incarnation: 2, line: line) == HistoryEvent(client: 1, incarnation: 2, time: 99, step: step))
        }
    }

    @Test("queue keys: the role from the layout, the owner from the attached lease or else the hex before '-'")
    func keyLayouts() {
        let rwlock = "/etcdlock/default/rwlock/x/"
        let writer = QueueKey(key: rwlock + "write/7a3-1f", prefix: rwlock, attachedLease: nil, createRevision: 9)
        #expect(writer == QueueKey(lease: 0x7a3, createRevision: 9, role: .writer))
        let reader = QueueKey(key: rwlock + "read/7a3-2", prefix: rwlock, attachedLease: 0x55, createRevision: 10)
        #expect(reader == QueueKey(lease: 0x55, createRevision: 10, role: .reader))
        let semaphore = "/etcdlock/default/semaphore/x/"
        #expect(QueueKey(key: semaphore + "b0-3", prefix: semaphore, attachedLease: 0, createRevision: 4).lease == 0xb0)
        let mutex = "/etcdlock/default/lock/x/"
        #expect(QueueKey(key: mutex + "c1", prefix: mutex, attachedLease: nil, createRevision: 4) == QueueKey(lease: 0xc1, createRevision: 4))
    }

    @Test("holders by recipe: the head; readers ahead of the first writer, or a writer at the head; the first N")
    func holders() {
        func key(_ revision: Int64, _ role: QueueKey.Role = .entry) -> QueueKey {
            QueueKey(lease: 1, createRevision: revision, role: role)
        }
        let readersFirst = [key(5, .reader), key(3, .reader), key(7, .writer), key(9, .reader)]
        #expect(VerifiedRecipe.readWriteLock.holders(in: readersFirst).map(\.createRevision) == [3, 5])
        let writerFirst = [key(4, .writer), key(5, .reader), key(6, .writer)]
        #expect(VerifiedRecipe.readWriteLock.holders(in: writerFirst).map(\.createRevision) == [4])
        let entries = [key(8), key(2), key(5)]
        #expect(VerifiedRecipe.semaphore(permits: 2).holders(in: entries).map(\.createRevision) == [2, 5])
        #expect(VerifiedRecipe.mutex.holders(in: entries).map(\.createRevision) == [2])
        #expect(VerifiedRecipe.readWriteLock.holders(in: []).isEmpty)
    }
}
