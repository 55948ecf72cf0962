import Etcd
import EtcdTestSupport
import Testing

@testable import EtcdLock

@Suite("lock-delay against a real etcd", .timeLimit(.minutes(2)))
struct LockDelayTests {
    /// The marker key of the mutex `name` in `namespace`.
    private func marker(_ name: String, _ namespace: String, _ kind: RecipeKind = .mutex) throws -> EtcdKey {
        try LockQueue.delayMarkerKey(namespace: namespace, kind: kind, name: name)
    }

    @Test("a clean release hands over at once and leaves no marker")
    func cleanReleaseHandsOverAtOnce() async throws {
        let namespace = recipeNamespace("delay-clean")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { one in
                try await EtcdSession.withSession(client) { two in
                    let first = try EtcdMutex("job", session: one, namespace: namespace, lockDelay: .seconds(30))
                    let second = try EtcdMutex("job", session: two, namespace: namespace, lockDelay: .seconds(30))
                    let held = try await first.lock()
                    let recorded = try await client.range(RangeRequest(.key(try marker("job", namespace)))).keyValues.first
                    #expect(recorded?.valueString == String(held.token.rawValue))
                    try await first.unlock(held)
                    guard case .acquired(let next) = try await second.tryLock() else {
                        Issue.record("a cleanly released lock was not available at once")
                        return
                    }
                    try await second.unlock(next)
                    #expect(try await client.range(RangeRequest(.key(try marker("job", namespace)))).keyValues.isEmpty)
                }
            }
        }
    }

    @Test("after a holder's session is lost, the lock stays unavailable until its marker expires, then passes on")
    func lostHolderDelaysTheNext() async throws {
        let namespace = recipeNamespace("delay-lost")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { survivor in
                let waiter = try EtcdMutex("job", session: survivor, namespace: namespace, lockDelay: .seconds(4))
                let markerKey = try marker("job", namespace)
                var lostToken: FencingToken?
                do {
                    try await EtcdSession.withSession(client, ttl: .seconds(4)) { doomed in
                        let holder = try EtcdMutex("job", session: doomed, namespace: namespace, lockDelay: .seconds(4))
                        let held = try await holder.lock()
                        lostToken = held.token
                        // The holder's lease ends without a release (as when it expires): its key goes.
                        _ = try await client.revokeLease(doomed.lease)
                        _ = try await doomed.waitUntilLost()
                    }
                } catch {}
                let standing = try await client.range(RangeRequest(.key(markerKey))).keyValues.first
                #expect(standing?.valueString == lostToken.map { String($0.rawValue) })
                #expect(try await client.range(RangeRequest(.prefix(waiter.prefix))).keyValues.isEmpty)
                // Free as far as the queue goes, but the lost holder's marker stands.
                guard case .heldByOther = try await waiter.tryLock() else {
                    Issue.record("the lock was taken during a lost holder's lock-delay")
                    return
                }
                #expect(try await client.range(RangeRequest(.prefix(waiter.prefix))).keyValues.isEmpty)
                let next = try await waiter.lock(timeout: .seconds(20))
                // Admitted only once the lost holder's marker had expired: the marker now is the new holder's.
                let now = try await client.range(RangeRequest(.key(markerKey))).keyValues.first
                #expect(now?.valueString == String(next.token.rawValue))
                #expect(standing.map { now?.modRevision != $0.modRevision } ?? false)
                try await waiter.unlock(next)
            }
        }
    }

    @Test("readers wait out a lost writer's lock-delay too; a writer released cleanly leaves none; a session ended while writing does")
    func readersHonourAWritersDelay() async throws {
        let namespace = recipeNamespace("delay-rw")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { survivor in
                let reader = try EtcdReadWriteLock("table", session: survivor, namespace: namespace, lockDelay: .seconds(4))
                try await EtcdSession.withSession(client, ttl: .seconds(4)) { releasing in
                    let writer = try EtcdReadWriteLock("table", session: releasing, namespace: namespace, lockDelay: .seconds(4))
                    try await writer.withWriteLock { _ in }
                }
                guard case .acquired(let read) = try await reader.tryRead() else {
                    Issue.record("a cleanly released writer's lock-delay applied")
                    return
                }
                try await reader.unlock(read)
                // A session that ends while its writer still holds counts as lost.
                try await EtcdSession.withSession(client, ttl: .seconds(4)) { ending in
                    let writer = try EtcdReadWriteLock("table", session: ending, namespace: namespace, lockDelay: .seconds(4))
                    _ = try await writer.write()
                }
                guard case .heldByOther = try await reader.tryRead() else {
                    Issue.record("a reader was admitted during a writer's lock-delay")
                    return
                }
                let late = try await reader.read(timeout: .seconds(20))
                try await reader.unlock(late)
            }
        }
    }
}

@Suite("lock-delay and the semaphore under the attacks that once broke them", .timeLimit(.minutes(2)))
struct LockDelayAttackTests {
    @Test("an acquisition whose marker write landed but whose answer was lost withdraws its key and its marker")
    func lostMarkerAnswerLeavesNoMarker() async throws {
        let namespace = recipeNamespace("delay-lost-answer")
        let markerKey = try LockQueue.delayMarkerKey(namespace: namespace, kind: .mutex, name: "job")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let store = FailFirstTxn(client, applied: true) { $0.puts { $0 == markerKey } }
                let mutex = try EtcdMutex("job", session: session, namespace: namespace, lockDelay: .seconds(30), store: store)
                await #expect(throws: EtcdError.self) { try await mutex.lock(timeout: .seconds(5)) }
                #expect(store.hasFailed)
                #expect(try await client.range(RangeRequest(.key(markerKey))).keyValues.isEmpty, "a marker without its lock key")
                #expect(try await queuedKeys(client, mutex.prefix).isEmpty)
                // Nothing delays the next acquisition, of this session or any other.
                let held = try await mutex.lock(timeout: .seconds(5))
                try await mutex.unlock(held)
            }
        }
    }

    @Test("a holder whose key an administrator deleted, its session alive, delays the lock by the delay, not for its session's life")
    func forceReleasedHolderDelaysOnlyTheDelay() async throws {
        let namespace = recipeNamespace("delay-forced")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { holderSession in
                try await EtcdSession.withSession(client) { nextSession in
                    let holder = try EtcdMutex("job", session: holderSession, namespace: namespace, lockDelay: .seconds(1))
                    let next = try EtcdMutex("job", session: nextSession, namespace: namespace, lockDelay: .seconds(1))
                    let held = try await holder.lock()
                    _ = try await client.delete(.key(held.key))
                    // The lost holder's marker stands: a try is refused, naming that holder, not the caller.
                    guard case .heldByOther(let blocking) = try await next.tryLock() else {
                        Issue.record("the lock was free during the lock-delay")
                        return
                    }
                    #expect(blocking.token == held.token)
                    #expect(blocking.owner != nextSession.owner)
                    // Both the other session and the holder's own get the lock within the delay plus margin.
                    let taken = try await next.lock(timeout: .seconds(10))
                    try await next.unlock(taken)
                    await #expect(throws: LockError.self) { try await holder.unlock(held) }
                    let again = try await holder.lock(timeout: .seconds(10))
                    try await holder.unlock(again)
                }
            }
        }
    }

    @Test("a semaphore waiter whose announcing rewrite fails once announces again: the waiter behind it is not stranded")
    func failedAnnouncementIsRetried() async throws {
        let namespace = recipeNamespace("sem-announce")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { a in
                try await EtcdSession.withSession(client) { b in
                    try await EtcdSession.withSession(client) { c in
                        try await EtcdSession.withSession(client) { d in
                            let prefix = try EtcdSemaphore("chain", permits: 2, session: a, namespace: namespace).prefix
                            // The third session's rewrite of its own key (the announcement) fails once, unapplied.
                            let store = FailFirstTxn(client, applied: false) { txn in
                                txn.compares.count == 1 && txn.failure.isEmpty
                                    && txn.puts { $0.description.hasPrefix(prefix.appending(c.lease.hexString).description) }
                            }
                            let first = try await EtcdSemaphore("chain", permits: 2, session: a, namespace: namespace).acquire()
                            let second = try await EtcdSemaphore("chain", permits: 2, session: b, namespace: namespace).acquire()
                            let thirdSemaphore = try EtcdSemaphore("chain", permits: 2, session: c, namespace: namespace, store: store)
                            let third = Task { try await thirdSemaphore.acquire(timeout: .seconds(30)) }
                            #expect(try await eventually(within: .seconds(10)) { try await queuedKeys(client, prefix).count == 3 })
                            // The fourth watches only the third (waited for, so the test proves the chain).
                            let thirdKey = try #require(try await queuedKeys(client, prefix).last?.key)
                            let reporter = WatchReporter(client)
                            let fourthSemaphore = try EtcdSemaphore("chain", permits: 2, session: d, namespace: namespace, store: reporter)
                            let fourth = Task { try await fourthSemaphore.acquire(timeout: .seconds(8)) }
                            try await withDeadline(.seconds(10), "the fourth waiter watching the third") { await reporter.waitForWatch(on: .key(thirdKey)) }
                            try await EtcdSemaphore("chain", permits: 2, session: a, namespace: namespace).release(first)
                            let thirdPermit = try await third.value
                            #expect(store.hasFailed)
                            try await EtcdSemaphore("chain", permits: 2, session: b, namespace: namespace).release(second)
                            // A permit is free: the fourth must get it, though it watches only the third.
                            let fourthPermit = try await fourth.value
                            try await fourthSemaphore.release(fourthPermit)
                            try await thirdSemaphore.release(thirdPermit)
                        }
                    }
                }
            }
        }
    }

    @Test("a body cancelled inside withPermit or withReadLock ends the call with LockError cancelled, like a cancelled wait")
    func cancelledBodyIsLockErrorCancelled() async throws {
        let namespace = recipeNamespace("cancel-body")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let semaphore = try EtcdSemaphore("slots", permits: 2, session: session, namespace: namespace)
                let rwlock = try EtcdReadWriteLock("table", session: session, namespace: namespace)
                let (entered, inside) = AsyncStream.makeStream(of: Void.self)
                let permitted = Task {
                    try await semaphore.withPermit { _ in
                        inside.yield()
                        try await sleepUntilCancelledForTest()
                    }
                }
                let reading = Task {
                    try await rwlock.withReadLock { _ in
                        inside.yield()
                        try await sleepUntilCancelledForTest()
                    }
                }
                var count = 0
                for await _ in entered {
                    count += 1
                    if count == 2 { break }
                }
                permitted.cancel()
                reading.cancel()
                await #expect { try await permitted.value } throws: { ($0 as? LockError)?.code == .cancelled }
                await #expect { try await reading.value } throws: { ($0 as? LockError)?.code == .cancelled }
                #expect(try await queuedKeys(client, semaphore.prefix).isEmpty)
                #expect(try await queuedKeys(client, rwlock.prefix).isEmpty)
            }
        }
    }

    @Test("a wait with a 1 s timeout on a frozen etcd ends as a timeout without the extra request and withdrawal timeouts")
    func timeoutOnFrozenEtcdIsBounded() async throws {
        try await EtcdCluster.withCluster(members: 1) { cluster in
            try await EtcdClient.withClient(cluster.configuration(requestTimeout: .seconds(5))) { client in
                try await EtcdSession.withSession(client, ttl: .seconds(20)) { session in
                    let mutex = try EtcdMutex("frozen", session: session)
                    try await cluster.freeze(member: 1)
                    let started = ContinuousClock.now
                    var failure: (any Error)?
                    do { _ = try await mutex.lock(timeout: .seconds(1)) } catch { failure = error }
                    let elapsed = ContinuousClock.now - started
                    try await cluster.resume(member: 1)
                    #expect((failure as? LockError)?.code == .timeout, "\(String(describing: failure))")
                    // The enqueue's request timeout (5 s) and the withdrawal's (2 s) used to come on top.
                    #expect(elapsed < .seconds(4), "lock(timeout: 1 s) took \(elapsed)")
                    let withdrawn = try await eventually(within: .seconds(15)) { try await queuedKeys(client, mutex.prefix).isEmpty }
                    #expect(withdrawn, "the timed-out attempt's key stayed behind")
                }
            }
        }
    }
}
