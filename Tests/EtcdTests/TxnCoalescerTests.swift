import Synchronization
import Testing

@testable import Etcd

/// Stands in for the gateway call under the coalescer (the coalescer's own logic, not etcd's, is
/// under test here; the integration suite runs it against etcd): records each txn sent and
/// holds it until the test lets it answer. A txn "succeeds" unless it compares a key named in
/// `failing`; `throwing` may turn a send into an error instead.
private final class HeldSends: Sendable {
    private struct State {
        var sent: [Txn] = []
        var deadlines: [ContinuousClock.Instant] = []
        var held: [CheckedContinuation<Void, Never>] = []
        var heldWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())
    let failing: Set<EtcdKey>
    let throwing: @Sendable (Txn) -> EtcdError?

    init(failing: Set<EtcdKey> = [], throwing: @escaping @Sendable (Txn) -> EtcdError? = { _ in nil }) {
        self.failing = failing
        self.throwing = throwing
    }

    var sent: [Txn] { state.withLock { $0.sent } }
    var deadlines: [ContinuousClock.Instant] { state.withLock { $0.deadlines } }

    func send(_ txn: Txn, deadline: ContinuousClock.Instant = .now) async throws -> TxnResult {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
                state.sent.append(txn)
                state.deadlines.append(deadline)
                state.held.append(continuation)
                let ready = state.heldWaiters.filter { $0.count <= state.held.count }.map(\.continuation)
                state.heldWaiters.removeAll { $0.count <= state.held.count }
                return ready
            }
            for waiter in ready { waiter.resume() }
        }
        if let error = throwing(txn) { throw error }
        let succeeded = !txn.compares.contains { failing.contains($0.keys.key) }
        let header = ResponseHeader(clusterID: 1, memberID: 1, revision: Revision(Int64(txn.success.count)), raftTerm: 1)
        let responses = (succeeded ? txn.success : txn.failure).map { _ in
            Txn.Response.txn(TxnResult(header: header, succeeded: true, responses: []))
        }
        return TxnResult(header: header, succeeded: succeeded, responses: responses)
    }

    /// Waits until `count` sends are held (an event, not a timer).
    func waitUntilHeld(_ count: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.held.count >= count { return true }
                state.heldWaiters.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Lets every held send answer.
    func release() {
        let held = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            defer { state.held = [] }
            return state.held
        }
        for continuation in held { continuation.resume() }
    }
}

/// Waits until `condition` holds, yielding between looks; fails after 5 seconds.
private func waitUntil(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(5)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        await Task.yield()
    }
}

private func create(_ key: EtcdKey) -> Txn {
    Txn(if: [.createRevision(of: key, .equal, .zero)], then: [.put(key, value: [1])], else: [.range(RangeRequest(.key(key)))])
}

@Suite("txn coalescer", .timeLimit(.minutes(1)))
struct TxnCoalescerTests {
    @Test("an idle coalescer sends at once, alone and unchanged")
    func idleSendsAtOnce() async throws {
        let coalescer = TxnCoalescer(maximumInFlight: 2, maximumOperations: 128)
        let sends = HeldSends()
        async let result = coalescer.submit(create("/a"), group: "a", retry: .onlyIfNotSent, deadline: .now + .seconds(5)) {
            txn, _, _ in try await sends.send(txn)
        }
        await sends.waitUntilHeld(1)
        #expect(sends.sent == [create("/a")])
        sends.release()
        #expect(try await result.succeeded)
    }

    @Test("txns submitted while the in-flight limit is reached leave together; one group never merges")
    func waitingTxnsMerge() async throws {
        let coalescer = TxnCoalescer(maximumInFlight: 1, maximumOperations: 128)
        let sends = HeldSends()
        let submit = { @Sendable (key: EtcdKey, group: String) async throws -> TxnResult in
            try await coalescer.submit(create(key), group: group, retry: .onlyIfNotSent, deadline: .now + .seconds(5)) {
                txn, _, _ in try await sends.send(txn)
            }
        }
        try await withThrowingTaskGroup(of: TxnResult.self) { group in
            group.addTask { try await submit("/first", "first") }
            await sends.waitUntilHeld(1)
            for key in ["/b", "/c", "/d"] { group.addTask { try await submit(EtcdKey(key), key) } }
            group.addTask { try await submit("/b2", "/b") }  // the same group as "/b"
            // The four wait (the first holds the only slot); none is sent yet.
            try await waitUntil { coalescer.waitingCount == 4 }
            #expect(sends.sent.count == 1)
            sends.release()
            await sends.waitUntilHeld(1)
            let merged = sends.sent[1]
            #expect(merged.compares.count == 3 && merged.success.count == 3 && merged.failure.isEmpty)
            sends.release()
            await sends.waitUntilHeld(1)
            // Whichever of "/b" and "/b2" queued second goes alone, after the merged txn.
            let alone = sends.sent[2].compares.map(\.keys.key)
            #expect(alone == ["/b"] || alone == ["/b2"])
            #expect(Set(merged.compares.map(\.keys.key) + alone) == ["/b", "/b2", "/c", "/d"])
            sends.release()
            var results: [TxnResult] = []
            for try await result in group { results.append(result) }
            #expect(results.count == 5 && results.allSatisfy { $0.succeeded && $0.responses.count == 1 })
        }
    }

    @Test("a merged txn whose compare fails is sent again member by member")
    func fallback() async throws {
        let coalescer = TxnCoalescer(maximumInFlight: 1, maximumOperations: 128)
        let sends = HeldSends(failing: ["/c"])
        let submit = { @Sendable (key: EtcdKey) async throws -> TxnResult in
            try await coalescer.submit(create(key), group: key.description, retry: .onlyIfNotSent, deadline: .now + .seconds(5)) {
                txn, _, _ in try await sends.send(txn)
            }
        }
        try await withThrowingTaskGroup(of: (EtcdKey, TxnResult).self) { group in
            group.addTask { ("/first", try await submit("/first")) }
            await sends.waitUntilHeld(1)
            for key in ["/b", "/c", "/d"] { group.addTask { (EtcdKey(key), try await submit(EtcdKey(key))) } }
            try await waitUntil { coalescer.waitingCount == 3 }
            sends.release()
            await sends.waitUntilHeld(1)  // the merged txn
            sends.release()
            await sends.waitUntilHeld(3)  // each alone
            #expect(sends.sent.suffix(3).map(\.compares.count) == [1, 1, 1])
            sends.release()
            var outcomes: [EtcdKey: Bool] = [:]
            for try await (key, result) in group { outcomes[key] = result.succeeded }
            #expect(outcomes == ["/first": true, "/b": true, "/c": false, "/d": true])
        }
    }

    /// Runs "/first" alone (held), then "/b", "/c", "/d" merged behind it, and returns each key's
    /// outcome once every send was let through.
    private func mergeBehindFirst(
        _ sends: HeldSends, retry: EtcdClient.RetryRule, deadlines: [EtcdKey: ContinuousClock.Instant] = [:],
        beforeRelease: @Sendable () async throws -> Void = {}
    ) async throws -> [EtcdKey: Result<TxnResult, any Error>] {
        let coalescer = TxnCoalescer(maximumInFlight: 1, maximumOperations: 128)
        let submit = { @Sendable (key: EtcdKey) async -> Result<TxnResult, any Error> in
            await Result {
                try await coalescer.submit(
                    create(key), group: key.description, retry: retry, deadline: deadlines[key] ?? .now + .seconds(5)
                ) { txn, _, deadline in try await sends.send(txn, deadline: deadline) }
            }
        }
        return try await withThrowingTaskGroup(of: (EtcdKey, Result<TxnResult, any Error>).self) { group in
            group.addTask { ("/first", await submit("/first")) }
            await sends.waitUntilHeld(1)
            for key in ["/b", "/c", "/d"] { group.addTask { (EtcdKey(key), await submit(EtcdKey(key))) } }
            try await waitUntil { coalescer.waitingCount == 3 }
            try await beforeRelease()
            // Let every send through as it comes: the merged one, then any sent alone.
            var outcomes: [EtcdKey: Result<TxnResult, any Error>] = [:]
            let releaser = Task {
                while !Task.isCancelled {
                    sends.release()
                    await Task.yield()
                }
            }
            for try await (key, result) in group { outcomes[key] = result }
            releaser.cancel()
            return outcomes
        }
    }

    @Test("a merged txn refused for good (one member's lease is gone) is resent member by member: the others succeed")
    func definiteMergedRefusal() async throws {
        let sends = HeldSends { txn in
            let keys = txn.compares.map(\.keys.key)
            guard keys.count > 1 || keys == ["/c"] else { return nil }
            return EtcdError(code: .leaseNotFound, message: "etcdserver: requested lease not found")
        }
        let outcomes = try await mergeBehindFirst(sends, retry: .onlyIfNotSent)
        #expect((try? outcomes["/b"]?.get())?.succeeded == true)
        #expect((try? outcomes["/d"]?.get())?.succeeded == true)
        #expect(throws: EtcdError.self) { try outcomes["/c"]?.get() }
        #expect(sends.sent.suffix(3).allSatisfy { $0.compares.count == 1 })
    }

    @Test("after a merged txn's ambiguous failure, a member's clean failure alone still says it may have been applied")
    func ambiguityIsSticky() async throws {
        let sends = HeldSends { txn in
            let keys = txn.compares.map(\.keys.key)
            if keys.count > 1 { return EtcdError(code: .timeout, message: "request timed out", mayHaveBeenApplied: true) }
            if keys == ["/c"] { return EtcdError(code: .noLeader, message: "etcdserver: no leader") }
            return nil
        }
        let outcomes = try await mergeBehindFirst(sends, retry: .idempotent)
        #expect((try? outcomes["/b"]?.get())?.succeeded == true)
        guard case .failure(let error as EtcdError)? = outcomes["/c"] else {
            Issue.record("/c did not fail with an EtcdError: \(String(describing: outcomes["/c"]))")
            return
        }
        #expect(error.code == .noLeader)
        #expect(error.mayHaveBeenApplied, "the merged attempt may have created /c")
    }

    @Test("a member whose deadline passed while it waited is answered at once and does not cut the others' deadline")
    func expiredMemberLeavesTheBatch() async throws {
        let sends = HeldSends()
        let soon = ContinuousClock.now + .milliseconds(50)
        let later = ContinuousClock.now + .seconds(30)
        let outcomes = try await mergeBehindFirst(
            sends, retry: .onlyIfNotSent, deadlines: ["/b": soon, "/c": later, "/d": later],
            // The event here is time itself: /b's deadline must have passed before the batch leaves.
            beforeRelease: { try await Task.sleep(until: soon + .milliseconds(20), clock: .continuous) })
        guard case .failure(let error as EtcdError)? = outcomes["/b"] else {
            Issue.record("/b was sent after its deadline: \(String(describing: outcomes["/b"]))")
            return
        }
        #expect(error.code == .timeout && !error.mayHaveBeenApplied)
        #expect(sends.sent.count == 2 && sends.sent[1].compares.count == 2)
        #expect(sends.deadlines[1] == later)
    }

    @Test("txns that are not single-key writes, or too large, are never merged")
    func notCoalescible() {
        #expect(TxnCoalescer.footprint(of: Txn(then: [.delete(.prefix("/p/"))])) == nil)
        #expect(TxnCoalescer.footprint(of: Txn(then: [.txn(Txn())])) == nil)
        #expect(TxnCoalescer.footprint(of: Txn(then: [.put("/k", value: [1]), .put("/k", value: [2])])) == nil)
        let ranged = TxnCoalescer.footprint(of: Txn(if: [Txn.Compare(.prefix("/q/"), .createRevision(.zero), .equal)], then: [.put("/q/a", value: [])]))
        #expect(ranged?.comparedRanges == [.prefix("/q/")])
        #expect(KeyRange.prefix("/q/").contains("/q/a") && !KeyRange.prefix("/q/").contains("/r"))
    }
}
