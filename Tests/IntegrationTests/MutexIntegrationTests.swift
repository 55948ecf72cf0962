import Etcd
import EtcdLock
import EtcdTestSupport
import Synchronization
import Testing

/// A unique lock namespace per test, so tests never share a queue.
private func uniqueNamespace() -> String { "test-\(ContinuousClock.now.hashValue & 0xFFFFFF)-\(Int.random(in: 0..<1_000_000))" }

/// How many keys wait or hold in `mutex`'s queue.
private func queueLength(_ client: EtcdClient, _ mutex: EtcdMutex) async throws -> Int64 {
    try await client.range(RangeRequest(.prefix(mutex.prefix), countOnly: true)).count
}

/// A counter shared between tasks.
private final class SharedCount: Sendable {
    private let value = Mutex(0)
    /// Adds `delta` and returns the new value.
    @discardableResult
    func add(_ delta: Int) -> Int { value.withLock { $0 += delta; return $0 } }
    var current: Int { value.withLock { $0 } }
}

/// Records values in the order they were appended, from any task.
private final class Recorder<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func append(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

/// Runs `body` while one session holds the lock "busy" (its mutex given) and another session's
/// mutex on the same lock is ready to contend.
private func withHeldLockAndContender(
    _ body: (EtcdClient, EtcdMutex, EtcdMutex) async throws -> Void
) async throws {
    let namespace = uniqueNamespace()
    try await TestEnvironment.withClient { client in
        try await EtcdSession.withSession(client) { holder in
            let mutex = try EtcdMutex("busy", session: holder, namespace: namespace)
            let held = try await mutex.lock()
            try await EtcdSession.withSession(client) { waiter in
                try await body(client, mutex, try EtcdMutex("busy", session: waiter, namespace: namespace))
            }
            try await mutex.unlock(held)
        }
    }
}

@Suite("the fenced mutex against a real etcd", .timeLimit(.minutes(2)))
struct MutexIntegrationTests {
    @Test("many tasks on several sessions contend; a fenced counter stays exact and tokens strictly increase")
    func contention() async throws {
        let namespace = uniqueNamespace()
        let counterKey: EtcdKey = "/test/\(namespace)/counter"
        let tokens = Recorder<FencingToken>()
        try await TestEnvironment.withClient { client in
            try await withThrowingTaskGroup(of: Void.self) { sessions in
                for _ in 0..<4 {
                    sessions.addTask {
                        try await EtcdSession.withSession(client, ttl: .seconds(10)) { session in
                            let mutex = try EtcdMutex("counter", session: session, namespace: namespace)
                            try await withThrowingTaskGroup(of: Void.self) { tasks in
                                for _ in 0..<3 {
                                    tasks.addTask {
                                        for _ in 0..<5 {
                                            try await mutex.withLock { lock in
                                                tokens.append(lock.token)
                                                let current = try await client.range(RangeRequest(.key(counterKey)))
                                                let value = Int(current.keyValues.first?.valueString ?? "0") ?? 0
                                                try await mutex.fenced(lock, Txn(then: [.put(counterKey, value: "\(value + 1)".utf8)]))
                                            }
                                        }
                                    }
                                }
                                try await tasks.waitForAll()
                            }
                        }
                    }
                }
                try await sessions.waitForAll()
            }
            let final = try await client.range(RangeRequest(.key(counterKey)))
            #expect(final.keyValues.first?.valueString == "60")
            let recorded = tokens.all
            #expect(recorded.count == 60)
            #expect(zip(recorded, recorded.dropFirst()).allSatisfy { $0 < $1 }, "tokens: \(recorded)")
            let probe = try await EtcdSession.withSession(client) { session in
                try await queueLength(client, EtcdMutex("counter", session: session, namespace: namespace))
            }
            #expect(probe == 0)
            _ = try await client.delete(.prefix("/test/\(namespace)/"))
        }
    }

    @Test("two tasks sharing one session are mutually exclusive")
    func sameSessionExclusive() async throws {
        let inside = SharedCount()
        let overlaps = SharedCount()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("shared", session: session, namespace: uniqueNamespace())
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<4 {
                        group.addTask {
                            for _ in 0..<5 {
                                try await mutex.withLock { _ in
                                    if inside.add(1) > 1 { overlaps.add(1) }
                                    // A real suspension inside the critical section.
                                    _ = try await client.range(RangeRequest(.key("/test/anything")))
                                    inside.add(-1)
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
            }
        }
        #expect(overlaps.current == 0)
    }

    @Test("unlocking twice gives not_held; locking again in the same task without reentrancy gives would_deadlock")
    func unlockTwiceAndDeadlock() async throws {
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("twice", session: session, namespace: uniqueNamespace())
                let lock = try await mutex.lock()
                try await mutex.unlock(lock)
                await #expect { try await mutex.unlock(lock) } throws: { ($0 as? LockError)?.code == .notHeld }
                let depth = try await mutex.withLock { _ in
                    await #expect { try await mutex.lock() } throws: { ($0 as? LockError)?.code == .wouldDeadlock }
                    return try await mutex.withLock(reentrant: true) { _ in 2 }
                }
                #expect(depth == 2)
                #expect(try await queueLength(client, mutex) == 0)
            }
        }
    }

    @Test("tryLock reports the holder and leaves no key behind")
    func tryLock() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client, owner: "holder-a") { holder in
                let mutex = try EtcdMutex("try", session: holder, namespace: namespace)
                let held = try await mutex.lock()
                try await EtcdSession.withSession(client) { other in
                    let contender = try EtcdMutex("try", session: other, namespace: namespace)
                    guard case .heldByOther(let who) = try await contender.tryLock() else {
                        Issue.record("tryLock acquired a held lock")
                        return
                    }
                    #expect(who.owner == "holder-a")
                    #expect(who.token == held.token)
                    #expect(who.lease == holder.lease)
                    #expect(try await queueLength(client, contender) == 1)
                }
                try await mutex.unlock(held)
                try await EtcdSession.withSession(client) { other in
                    let contender = try EtcdMutex("try", session: other, namespace: namespace)
                    guard case .acquired(let lock) = try await contender.tryLock() else {
                        Issue.record("tryLock did not acquire a free lock")
                        return
                    }
                    #expect(lock.token > held.token)
                    try await contender.unlock(lock)
                }
            }
        }
    }

    @Test("a lock() cancelled at any moment, even while its enqueue is in flight, leaves no key behind")
    func cancelDuringEnqueue() async throws {
        try await withHeldLockAndContender { client, mutex, contender in
            for attempt in 0..<60 {
                let sentBefore = client.requestsSent
                let waiting = Task { try await contender.lock() }
                // Cancel once the enqueue request has left (the client counted it), after a spread
                // of scheduler turns: moments across its round trip, not a timer.
                let end = ContinuousClock.now + .seconds(5)
                while client.requestsSent == sentBefore, ContinuousClock.now < end { await Task.yield() }
                for _ in 0..<(attempt % 20) { await Task.yield() }
                waiting.cancel()
                if case .success = await waiting.result {
                    Issue.record("a cancelled waiter acquired a held lock")
                }
                let length = try await queueLength(client, mutex)
                #expect(length == 1, "attempt \(attempt) left a key")
            }
        }
    }

    @Test("lock(timeout:) also bounds the wait behind other tasks of the same session")
    func timeoutCoversLocalQueue() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("shared", session: session, namespace: namespace)
                let held = try await mutex.lock()
                let (outcome, waited) = await measure { () -> (any Error)? in
                    do {
                        _ = try await mutex.lock(timeout: .milliseconds(300))
                        return nil
                    } catch { return error }
                }
                #expect((outcome as? LockError)?.code == .timeout)
                #expect(waited >= .milliseconds(300) && waited < .seconds(3))
                try await mutex.unlock(held)
                // Nothing stayed queued locally: the next lock is granted at once.
                try await mutex.unlock(try await mutex.lock(timeout: .seconds(5)))
                #expect(try await queueLength(client, mutex) == 0)
            }
        }
    }

    @Test("unlockUntilDone releases a held lock, reports a lost one, and leaves the session's turn free")
    func unlockUntilDone() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("insist", session: session, namespace: namespace)
                let held = try await mutex.lock()
                #expect(await mutex.unlockUntilDone(held))
                #expect(try await queueLength(client, mutex) == 0)
                let second = try await mutex.lock(timeout: .seconds(5))
                // Someone deletes the key (an administrator's force-release): the lock is lost.
                _ = try await client.delete(.key(second.key))
                let failures = Recorder<String>()
                #expect(await mutex.unlockUntilDone(second) { failures.append("\($0)") } == false)
                #expect(failures.all.count == 1)
                // The session's turn is free again.
                try await mutex.unlock(try await mutex.lock(timeout: .seconds(5)))
            }
        }
    }

    @Test("unlock from a cancelled task still releases the lock")
    func unlockWhenCancelled() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("cancelled-unlock", session: session, namespace: namespace)
                let held = try await mutex.lock()
                let outcome = await Task {
                    withUnsafeCurrentTask { $0?.cancel() }
                    try await mutex.unlock(held)
                }.result
                if case .failure(let error) = outcome { Issue.record("unlock failed: \(error)") }
                #expect(try await queueLength(client, mutex) == 0)
                #expect(held.isReleased)
            }
        }
    }

    @Test("cancelling a waiter deletes its key; a timed-out waiter leaves none either")
    func cancelAndTimeout() async throws {
        try await withHeldLockAndContender { client, mutex, contender in
            let waiting = Task { try await contender.lock() }
            let queued = try await eventually(within: .seconds(5)) { try await queueLength(client, mutex) == 2 }
            #expect(queued)
            waiting.cancel()
            let result = await waiting.result
            guard case .failure(let error) = result else {
                Issue.record("a cancelled waiter acquired the lock")
                return
            }
            #expect((error as? LockError)?.code == .cancelled)
            #expect(try await queueLength(client, mutex) == 1)

            let (outcome, waited) = await measure { () -> (any Error)? in
                do {
                    _ = try await contender.lock(timeout: .milliseconds(300))
                    return nil
                } catch { return error }
            }
            #expect((outcome as? LockError)?.code == .timeout)
            #expect(waited >= .milliseconds(300) && waited < .seconds(3))
            #expect(try await queueLength(client, mutex) == 1)
        }
    }

    @Test("a waiter whose session is lost stops waiting at once with session_lost")
    func sessionLostWhileWaiting() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { holder in
                let mutex = try EtcdMutex("expiring", session: holder, namespace: namespace)
                let held = try await mutex.lock()
                let outcome = try await EtcdSession.withSession(client, ttl: .seconds(5)) { waiter -> LockError? in
                    let contender = try EtcdMutex("expiring", session: waiter, namespace: namespace)
                    let waiting = Task { try await contender.lock() }
                    #expect(try await eventually(within: .seconds(5)) { try await queueLength(client, mutex) == 2 })
                    // The lease disappears as if it had expired.
                    _ = try await client.revokeLease(waiter.lease)
                    let (result, elapsed) = await measure { await waiting.result }
                    #expect(elapsed < .seconds(2), "the waiter noticed after \(elapsed)")
                    guard case .failure(let error) = result else { return nil }
                    return error as? LockError
                }
                #expect(outcome?.code == .sessionLost || outcome?.code == .ownershipLost)
                #expect(try await queueLength(client, mutex) == 1)
                try await mutex.unlock(held)
            }
        }
    }

    @Test("losing the lease mid-hold cancels the body; a write fenced with the old token is rejected")
    func leaseLostMidHold() async throws {
        let namespace = uniqueNamespace()
        let key: EtcdKey = "/test/\(namespace)/resource"
        try await TestEnvironment.withClient { client in
            let stale = Recorder<LockGuard>()
            let bodyCancelled = SharedCount()
            await #expect {
                try await EtcdSession.withSession(client) { session in
                    let mutex = try EtcdMutex("revoked", session: session, namespace: namespace)
                    try await mutex.withLock { lock in
                        stale.append(lock)
                        do {
                            // The session may notice the loss before the revoke's own answer
                            // arrives: then the revoke is what the cancellation interrupts.
                            _ = try await client.revokeLease(session.lease)
                            try await sleepUntilCancelledForTest()
                        } catch {
                            if Task.isCancelled { bodyCancelled.add(1) }
                            throw error
                        }
                    }
                }
            } throws: { ($0 as? LockError)?.code == .ownershipLost }
            #expect(bodyCancelled.current == 1)
            let oldGuard = try #require(stale.all.first)
            try await EtcdSession.withSession(client) { successor in
                let mutex = try EtcdMutex("revoked", session: successor, namespace: namespace)
                let lock = try await mutex.lock()
                #expect(lock.token > oldGuard.token)
                try await mutex.fenced(lock, Txn(then: [.put(key, value: "fresh".utf8)]))
                await #expect {
                    try await mutex.fenced(oldGuard, Txn(then: [.put(key, value: "stale".utf8)]))
                } throws: { ($0 as? LockError)?.code == .ownershipLost }
                try await mutex.unlock(lock)
            }
            #expect(try await client.range(RangeRequest(.key(key))).keyValues.first?.valueString == "fresh")
            _ = try await client.delete(.prefix("/test/\(namespace)/"))
        }
    }

    @Test("etcd requests per handoff stay constant with 50 waiters instead of growing with them")
    func requestsPerHandoff() async throws {
        let few = try await requestsPerHandoff(waiters: 5)
        let many = try await requestsPerHandoff(waiters: 50)
        #expect(many <= 3.0, "\(many) requests per handoff with 50 waiters")
        #expect(many <= few * 1.5 + 0.5, "5 waiters: \(few), 50 waiters: \(many)")
    }

    private func requestsPerHandoff(waiters: Int) async throws -> Double {
        let namespace = uniqueNamespace()
        let configuration = try await TestEnvironment.configuration()
        return try await EtcdClient.withClient(configuration) { client in
            try await EtcdSession.withSession(client, ttl: .seconds(60)) { holderSession in
                let holder = try EtcdMutex("queue", session: holderSession, namespace: namespace)
                let first = try await holder.lock()
                let handedOver = SharedCount()
                var requestsAtRelease = 0
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<waiters {
                        group.addTask {
                            try await EtcdSession.withSession(client, ttl: .seconds(60)) { session in
                                let mutex = try EtcdMutex("queue", session: session, namespace: namespace)
                                let lock = try await mutex.lock()
                                handedOver.add(1)
                                try await mutex.unlock(lock)
                            }
                        }
                    }
                    #expect(try await eventually(within: .seconds(20)) { try await queueLength(client, holder) == Int64(waiters + 1) })
                    // Let every waiter finish setting up its watch: the count stops moving.
                    var previous = -1
                    #expect(try await eventually(within: .seconds(10), every: .milliseconds(200)) {
                        defer { previous = client.requestsSent }
                        return client.requestsSent == previous
                    })
                    requestsAtRelease = client.requestsSent
                    try await holder.unlock(first)
                    try await group.waitForAll()
                }
                // Each waiter's session revokes its lease at the end: not part of a handoff.
                let spent = client.requestsSent - requestsAtRelease - waiters
                #expect(handedOver.current == waiters)
                return Double(spent) / Double(waiters)
            }
        }
    }

    @Test("invalid names and TTLs are typed errors; an unreachable cluster is an EtcdError within the deadline")
    func badInput() async throws {
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                for name in ["", String(repeating: "x", count: 513), "tab\there"] {
                    #expect { try EtcdMutex(name, session: session) } throws: { ($0 as? LockError)?.code == .invalidName }
                    #expect { try EtcdElection(name, session: session) } throws: { ($0 as? LockError)?.code == .invalidName }
                }
                #expect { try EtcdMutex("ok", session: session, namespace: "") } throws: {
                    ($0 as? LockError)?.code == .invalidName
                }
                // Names that look like paths are escaped, never interpreted.
                let tricky = try EtcdMutex("../../etc/x", session: session)
                let plain = try EtcdMutex("..%2F..%2Fetc%2Fx", session: session)
                #expect(tricky.prefix != plain.prefix)
                #expect(tricky.prefix.description.hasPrefix("/etcdlock/default/lock/"))
                #expect(!tricky.prefix.description.dropFirst("/etcdlock/default/lock/".count).dropLast().contains("/"))
            }
            for ttl: Duration in [.zero, .seconds(-1), .milliseconds(999)] {
                await #expect {
                    try await EtcdSession.withSession(client, ttl: ttl) { _ in }
                } throws: { ($0 as? LockError)?.code == .invalidTTL }
            }
        }
        let peer = try ScriptedHTTPPeer(reply: .bytesThenClose(""))
        peer.stop()
        try await EtcdClient.withClient(.init(endpoints: [peer.url], requestTimeout: .seconds(1))) { client in
            let (result, elapsed) = await measure { () -> (any Error)? in
                do {
                    try await EtcdSession.withSession(client) { _ in }
                    return nil
                } catch { return error }
            }
            #expect((result as? EtcdError)?.code == .unavailable)
            #expect(elapsed < .seconds(2))
        }
    }
}

/// Suspends until the task is cancelled, then throws `CancellationError` (no timer involved).
func sleepUntilCancelledForTest() async throws {
    let (never, continuation) = AsyncStream.makeStream(of: Never.self)
    defer { continuation.finish() }
    for await _ in never {}
    try Task.checkCancellation()
}
