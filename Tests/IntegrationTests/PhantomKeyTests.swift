import Etcd
import EtcdTestSupport
import Synchronization
import Testing

@testable import EtcdLock

/// A lock namespace no other test uses.
private func uniqueNamespace() -> String { "phantom-\(Int.random(in: 0..<1_000_000_000))" }

/// The keys queued under `prefix`, holder first.
private func queue(_ client: EtcdClient, _ prefix: EtcdKey) async throws -> [KeyValue] {
    try await client.range(RangeRequest(.prefix(prefix), sort: .init(.createRevision, .ascending))).keyValues
}

/// Leaders as an observer reported them, in order.
private final class Reported: Sendable {
    private let leaders = Mutex<[String]>([])
    func append(_ leader: EtcdElection.Leader?) { leaders.withLock { $0.append(leader?.valueString ?? "nobody") } }
    var all: [String] { leaders.withLock { $0 } }
}

@Suite("no phantom keys, no stale leaders", .timeLimit(.minutes(2)))
struct PhantomKeyTests {
    @Test("a waiter whose withdrawal fails while etcd is frozen withdraws in the background once etcd is back")
    func failedWithdrawalIsRetried() async throws {
        try await EtcdCluster.withCluster(members: 1) { cluster in
            try await EtcdClient.withClient(cluster.configuration(requestTimeout: .seconds(2))) { client in
                try await EtcdSession.withSession(client, ttl: .seconds(20)) { holder in
                    let held = try await EtcdMutex("m", session: holder).lock()
                    try await EtcdSession.withSession(client, ttl: .seconds(20)) { waiter in
                        let mutex = try EtcdMutex("m", session: waiter)
                        let attempt = Task { try await mutex.lock(timeout: .seconds(2)) }
                        #expect(try await eventually(within: .seconds(10)) { try await queue(client, mutex.prefix).count == 2 })
                        try await cluster.freeze(member: 1)
                        // The wait times out, and the withdrawal cannot reach the frozen etcd.
                        await #expect(throws: LockError.self) { _ = try await attempt.value }
                        #expect(waiter.pendingWithdrawals.count == 1)
                        try await cluster.resume(member: 1)
                        let withdrawn = try await eventually(within: .seconds(10)) {
                            try await queue(client, mutex.prefix).count == 1
                        }
                        #expect(withdrawn, "the waiter's key stayed behind, a phantom")
                        #expect(waiter.isValid)
                        // The background withdrawal forgets its entry just after the deletion lands.
                        let forgotten = try await eventually(within: .seconds(5)) { waiter.pendingWithdrawals.count == 0 }
                        #expect(forgotten)
                    }
                    _ = held
                }
            }
        }
    }

    @Test("when the session is lost, a task waiting for the session's local turn stops at once, and unlockUntilDone gives up")
    func localWaiterSeesSessionLoss() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client, ttl: .seconds(5)) { session in
                let mutex = try EtcdMutex("shared", session: session, namespace: namespace)
                let held = try await mutex.lock()
                let second = Task { try await mutex.lock() }  // no timeout: waits for the local turn
                _ = try await client.revokeLease(session.lease)
                let outcome = try await withDeadline(.seconds(10), "the local waiter's end") {
                    do {
                        // The waiter is cancelled with this wait, so a failure cannot hang the run.
                        _ = try await withTaskCancellationHandler { try await second.value } onCancel: { second.cancel() }
                        return "acquired"
                    } catch let error as LockError {
                        return error.code.description
                    }
                }
                #expect(outcome == LockError.Code.sessionLost.description)
                #expect(await mutex.unlockUntilDone(held) == false)
                #expect(held.isReleased)
            }
        }
    }

    @Test("two campaigns of one session in one election take turns: the second leads only after the first resigns")
    func campaignsOfOneSessionTakeTurns() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let election = try EtcdElection("e", session: session, namespace: namespace)
                let first = try await election.campaign(value: "first".utf8)
                await #expect(throws: LockError.self) { _ = try await election.campaign(value: "second".utf8, timeout: .milliseconds(300)) }
                #expect(try await election.leader()?.valueString == "first")
                try await election.resign(first)
                await #expect(throws: LockError.self) { try await election.resign(first) }
                let second = try await election.campaign(value: "second".utf8, timeout: .seconds(5))
                #expect(try await election.leader()?.valueString == "second")
                try await election.resign(second)
            }
        }
    }

    @Test("observe reports no stale leader for changes between its watch and its first read")
    func observeSkipsEventsInItsFirstRead() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { first in
                try await EtcdSession.withSession(client) { second in
                    let one = try EtcdElection("e", session: first, namespace: namespace)
                    let two = try EtcdElection("e", session: second, namespace: namespace)
                    let leadership = try await one.campaign(value: "one".utf8)
                    let reported = Reported()
                    let twoLeads = Mutex<EtcdElection.Leadership?>(nil)
                    // Between the watch and the first read: "one" resigns, "two" takes over.
                    let changes = try await one.observe(afterWatching: {
                        try await one.resign(leadership)
                        let leading = try await two.campaign(value: "two".utf8)
                        twoLeads.withLock { $0 = leading }
                    })
                    defer { changes.cancel() }
                    var iterator = changes.makeAsyncIterator()
                    reported.append(try await iterator.next() ?? nil)
                    // A change after the first read: "two" publishes a new value.
                    let leading = try #require(twoLeads.withLock { $0 })
                    try await two.proclaim("two-b".utf8, as: leading)
                    reported.append(try await iterator.next() ?? nil)
                    // Before the fix the stale "nobody" (as of "one"'s resignation) came second.
                    #expect(reported.all == ["two", "two-b"])
                    try await two.resign(leading)
                }
            }
        }
    }

    @Test("a mutex refuses to release another mutex's guard and leaves it held")
    func foreignGuard() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let x = try EtcdMutex("x", session: session, namespace: namespace)
                let y = try EtcdMutex("y", session: session, namespace: namespace)
                let heldX = try await x.lock()
                let heldY = try await y.lock()
                await #expect(throws: LockError.self) { try await x.unlock(heldY) }
                #expect(!heldY.isReleased)
                #expect(try await queue(client, y.prefix).count == 1)
                try await y.unlock(heldY)
                try await x.unlock(heldX)
            }
        }
    }

    @Test("a force-release during an etcd outage longer than a watch's reconnect attempts is still seen")
    func forceReleaseAfterOutageIsSeen() async throws {
        try await EtcdCluster.withCluster(members: 1) { cluster in
            try await EtcdClient.withClient(cluster.configuration(requestTimeout: .seconds(2))) { client in
                try await EtcdSession.withSession(client, ttl: .seconds(20)) { session in
                    let mutex = try EtcdMutex("forced", session: session)
                    let held = try await mutex.lock()
                    let loss = Task { try await mutex.waitUntilLost(held) }
                    try await cluster.kill(member: 1)
                    // The fault: etcd stays down longer than a watch's own reconnect attempts.
                    try await Task.sleep(for: .seconds(4))
                    try await cluster.restart(member: 1)
                    _ = try await client.delete(.key(held.key))  // an administrator's force-release
                    let seen = try await withDeadline(.seconds(15), "the force-release") {
                        try await withTaskCancellationHandler { try await loss.value } onCancel: { loss.cancel() }
                    }
                    #expect(seen == .keyDeleted)
                }
            }
        }
    }

    @Test("a task started inside withLock that outlives the scope inherits no hold: reentrancy and deadlock checks see a released guard as gone")
    func escapedTaskInheritsNoHold() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("escape", session: session, namespace: namespace)
                let (scopeEnded, ended) = AsyncStream.makeStream(of: Void.self)
                let outerToken = Mutex<FencingToken?>(nil)
                let escaped = Mutex<Task<(FencingToken, FencingToken), any Error>?>(nil)
                try await mutex.withLock { outer in
                    outerToken.withLock { $0 = outer.token }
                    escaped.withLock {
                        $0 = Task {
                            for await _ in scopeEnded { break }
                            let inner = try await mutex.withLock(timeout: .seconds(5), reentrant: true) { inner in inner.token }
                            let plain = try await mutex.lock(timeout: .seconds(5))
                            try await mutex.unlock(plain)
                            return (inner, plain.token)
                        }
                    }
                }
                ended.yield()
                let task = try #require(escaped.withLock { $0 })
                let (inner, plain) = try await task.value
                let outer = try #require(outerToken.withLock { $0 })
                #expect(inner > outer, "the escaped task ran under the released outer guard")
                #expect(plain > inner)
            }
        }
    }

    @Test("an enqueue whose outcome was unknown and that lands after its withdrawal (a member's buffered copy) is deleted again")
    func lateEnqueueIsDeletedAgain() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("late", session: session, namespace: namespace)
                // What lock() does after an enqueue whose outcome is unknown.
                #expect(await mutex.queue.withdraw(mutex.queue.sessionKey, revision: nil))
                #expect(session.pendingWithdrawals.recheckCount == 1)
                // The late copy lands: the session's key appears, though no attempt owns it.
                _ = try await client.put(mutex.queue.sessionKey, value: Array(session.owner.utf8), lease: session.lease)
                let deleted = try await eventually(within: .seconds(8)) { try await queue(client, mutex.prefix).isEmpty }
                #expect(deleted, "the late copy stayed: a phantom waiter")
                // The session's own attempts are unaffected.
                let held = try await mutex.lock(timeout: .seconds(5))
                try await mutex.unlock(held)
            }
        }
    }
}
