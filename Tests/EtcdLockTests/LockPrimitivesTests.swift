import Etcd
import Foundation
import Testing

@testable import EtcdLock

@Suite("lock names, fencing gate, metrics and the local queue", .timeLimit(.minutes(1)))
struct LockPrimitivesTests {
    @Test("a queue key's record keeps its times, permits and owner apart; an owner that looks like fields stays owner")
    func queueEntryRecord() {
        let queued = Date(timeIntervalSince1970: 1_700_000_000.123)
        let admitted = Date(timeIntervalSince1970: 1_700_000_004.5)
        let record = QueueEntryRecord(queuedAt: queued, admittedAt: admitted, permits: 3, owner: "since=1;permits=2;x")
        #expect(String(decoding: record.bytes, as: UTF8.self) == "since=1700000000123;held=1700000004500;permits=3;since=1;permits=2;x")
        #expect(QueueEntryRecord(record.bytes) == record)
        // Every field is written, empty when unknown: an owner is never read as one.
        let waiter = QueueEntryRecord(queuedAt: queued, owner: "held=0;permits=5;bob")
        #expect(String(decoding: waiter.bytes, as: UTF8.self) == "since=1700000000123;held=;permits=;held=0;permits=5;bob")
        #expect(QueueEntryRecord(waiter.bytes) == waiter)
        #expect(QueueEntryRecord(Array("permits=2;worker".utf8)) == QueueEntryRecord(permits: 2, owner: "worker"))
        #expect(QueueEntryRecord(Array("just an owner".utf8)) == QueueEntryRecord(owner: "just an owner"))
        // Anything but the exact layout, or numbers out of range, is all owner and has no times.
        for hostile in [
            "since=x;y", "since=1;held=2;x", "since=9223372036854775807;held=9223372036854775807;permits=;x",
            "since=-9223372036854775000;held=;permits=;x", "since=+5;held=;permits=;x", "since=;held=;permits=;x",
            "since=5;held=;permits=99999999999999999999;x",
        ] {
            let read = QueueEntryRecord(Array(hostile.utf8))
            #expect(read == QueueEntryRecord(owner: hostile), "\(hostile)")
        }
        // An admission before the entry joined is not one a writer records; nor is a time before 2000.
        let early = QueueEntryRecord(Array("since=1700000005000;held=1700000004000;permits=;o".utf8))
        #expect(early.queuedAt != nil && early.admittedAt == nil && early.owner == "o")
        #expect(QueueEntryRecord(Array("since=0;held=0;permits=;o".utf8)) == QueueEntryRecord(owner: "o"))
        #expect(QueueEntryRecord(Array("since=5;held=;permits=3;o".utf8)) == QueueEntryRecord(permits: 3, owner: "o"), "a clock never set hides no count")
        // Read on bytes: an owner that starts with a combining mark does not fuse with the `;` before it.
        for mark in ["\u{301}alice", "\u{200D}x", "\u{FE0F}y", "\u{1F3FB}z"] {
            let marked = QueueEntryRecord(queuedAt: queued, permits: 1, owner: mark)
            #expect(QueueEntryRecord(marked.bytes) == marked, "\(mark.unicodeScalars.map(\.value))")
        }
        #expect(QueueEntryRecord.age(of: queued, now: admitted) == .milliseconds(4377))
        #expect(QueueEntryRecord.age(of: admitted, now: queued) == .zero, "a clock behind the writer's reads no negative age")
        #expect(QueueEntryRecord.age(of: Date(timeIntervalSince1970: 0), now: .distantFuture) != nil)
        #expect(QueueEntryRecord.age(of: nil) == nil)
    }

    @Test("names are escaped into one key segment: no slash survives, no two names collide")
    func nameEscaping() throws {
        let names = ["orders", "a/b", "a%2Fb", "../x", "..%2Fx", "ünïcödé", "with space", "%", "%25", "a.b-c_d"]
        var segments: [String: String] = [:]
        for name in names {
            let segment = try LockName.segment(name, kind: "lock")
            #expect(!segment.contains("/"), "\(name) → \(segment)")
            #expect(segments[segment] == nil, "\(name) and \(segments[segment] ?? "") collide as \(segment)")
            segments[segment] = name
        }
        #expect(try LockName.segment("orders", kind: "lock") == "orders")
        #expect(try LockName.segment("a/b", kind: "lock") == "a%2Fb")
        #expect(try LockName.segment("%", kind: "lock") == "%25")
        #expect(try LockName.prefix(namespace: "team a", kind: "lock", name: "x") == EtcdKey("/etcdlock/team%20a/lock/x/"))
    }

    @Test(
        "invalid names are rejected with invalid_name (U+FFFD too: the trace of repaired, invalid UTF-8)",
        arguments: [
            "", String(repeating: "n", count: 513), "new\nline", "nul\u{0}", "x\u{FFFD}",
            String(decoding: [0x78, 0xFF] as [UInt8], as: UTF8.self),
        ])
    func invalidNames(name: String) {
        #expect { try LockName.segment(name, kind: "lock") } throws: { ($0 as? LockError)?.code == .invalidName }
    }

    @Test("a name of exactly 512 bytes is accepted")
    func longestName() throws {
        #expect(try !LockName.segment(String(repeating: "n", count: 512), kind: "lock").isEmpty)
    }

    @Test("the fencing gate accepts non-decreasing tokens and rejects older ones")
    func fencingGate() {
        let gate = FencingGate()
        #expect(gate.admit(FencingToken(rawValue: 5)))
        #expect(gate.admit(FencingToken(rawValue: 5)))
        #expect(gate.admit(FencingToken(rawValue: 9)))
        #expect(!gate.admit(FencingToken(rawValue: 8)))
        #expect(gate.newestToken == FencingToken(rawValue: 9))
        let restored = FencingGate(newest: FencingToken(rawValue: 100))
        #expect(!restored.admit(FencingToken(rawValue: 99)))
        #expect(restored.admit(FencingToken(rawValue: 101)))
    }

    @Test("metrics count events, bucket durations, and render Prometheus text")
    func metrics() {
        let metrics = LockMetrics()
        let token = FencingToken(rawValue: 1)
        metrics.waitStarted(name: "a")
        metrics.waitStarted(name: "a")
        metrics.waitEnded(name: "a")
        metrics.acquired(name: "a", token: token, waited: .milliseconds(3))
        metrics.acquired(name: "a", token: token, waited: .seconds(120))
        metrics.released(name: "a", token: token, held: .milliseconds(40))
        metrics.timedOut(name: "a", waited: .seconds(1))
        metrics.sessionLost(lease: LeaseID(7), reason: .leaseExpired)
        let snapshot = metrics.snapshot
        #expect(snapshot.acquired == 2 && snapshot.released == 1 && snapshot.timedOut == 1 && snapshot.sessionsLost == 1)
        #expect(snapshot.currentWaiters == 1)
        #expect(snapshot.waitBuckets[1] == 1)  // 3 ms falls in the 5 ms bucket
        #expect(snapshot.waitBuckets.last == 1)  // 120 s overflows
        let text = metrics.prometheusText()
        #expect(text.contains("# TYPE etcdlock_acquired_total counter\netcdlock_acquired_total 2\n"))
        #expect(text.contains("etcdlock_waiters 1\n"))
        #expect(text.contains(#"etcdlock_wait_seconds_bucket{le="0.005"} 1"#))
        #expect(text.contains(#"etcdlock_wait_seconds_bucket{le="+Inf"} 2"#))
        #expect(text.contains("etcdlock_hold_seconds_count 1\n"))
    }

    @Test("the local queue admits one task at a time, in arrival order, and a cancelled waiter leaves it")
    func localQueue() async throws {
        let table = LocalLockTable()
        try await table.acquire("k")
        #expect(!table.tryAcquire("k"))
        let cancelled = Task { try await table.acquire("k") }
        cancelled.cancel()
        await #expect(throws: CancellationError.self) { try await cancelled.value }
        let (order, signal) = AsyncStream.makeStream(of: Int.self)
        let second = Task {
            try await table.acquire("k")
            signal.yield(2)
            table.release("k")
        }
        table.release("k")
        var iterator = order.makeAsyncIterator()
        #expect(await iterator.next() == 2)
        try await second.value
        #expect(table.tryAcquire("k"))
        table.release("k")
    }
}
