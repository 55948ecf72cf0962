import Etcd
import EtcdLock
import EtcdTestSupport
import Foundation
import Testing

/// What a `withLock` body did, kept on the main actor (not Sendable otherwise).
@MainActor private final class MainActorLog {
    var entered = 0
    var cancelled = 0
}

/// A service's state on an actor, changed by `withLock` bodies without `self.`.
private actor Worker {
    var entered = 0
    var cancelled = 0

    /// Holds the lock and revokes its own session's lease, then waits to be cancelled.
    func holdWhileLosingTheSession(_ mutex: EtcdMutex) async throws {
        try await mutex.withLock { _ in
            entered += 1
            do {
                _ = try await mutex.session.client.revokeLease(mutex.session.lease)
                try await sleepUntilCancelledForTest()
            } catch {
                // The loss may cancel the body while the revoke's answer is still on its way.
                if Task.isCancelled { cancelled += 1 }
                throw error
            }
        }
    }
}

/// Blocks the calling thread (and the actor running on it), as long synchronous work would.
private func blockThread(for duration: Duration) {
    Thread.sleep(forTimeInterval: Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18)
}

private func isolationNamespace() -> String { "isolation-\(UUID().uuidString.prefix(8))" }

@Suite("scoped APIs called from the main actor or an actor", .timeLimit(.minutes(1)))
struct IsolationIntegrationTests {
    @Test("withLock's body changes main-actor state; deleting the lock key cancels it with ownership_lost")
    @MainActor func mainActorBodyCancelledByForceRelease() async throws {
        let log = MainActorLog()
        let namespace = isolationNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("main-actor", session: session, namespace: namespace)
                var caught: (any Error)?
                do {
                    try await mutex.withLock { lock in
                        log.entered += 1
                        do {
                            // An administrator's force-release.
                            _ = try await client.delete(.key(lock.key))
                            try await sleepUntilCancelledForTest()
                        } catch {
                            // The loss may cancel the body while the delete's answer is still on its way.
                            if Task.isCancelled { log.cancelled += 1 }
                            throw error
                        }
                    }
                } catch {
                    caught = error
                }
                #expect((caught as? LockError)?.code == .ownershipLost)
                #expect(try await mutex.holder() == nil)
            }
        }
        #expect(log.entered == 1)
        #expect(log.cancelled == 1)
    }

    @Test("withLock in an actor's method changes the actor's state; losing the session cancels the body")
    func actorBodyCancelledBySessionLoss() async throws {
        let worker = Worker()
        let namespace = isolationNamespace()
        try await TestEnvironment.withClient { client in
            let caught: (any Error)? = await {
                do {
                    try await EtcdSession.withSession(client) { session in
                        try await worker.holdWhileLosingTheSession(
                            try EtcdMutex("actor", session: session, namespace: namespace))
                    }
                    return nil
                } catch {
                    return error
                }
            }()
            #expect((caught as? LockError)?.code == .ownershipLost)
        }
        #expect(await worker.entered == 1)
        #expect(await worker.cancelled == 1)
    }

    @Test("cancelling a main-actor task inside withLock cancels the body and releases the lock")
    @MainActor func mainActorCallerCancelled() async throws {
        let log = MainActorLog()
        let namespace = isolationNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("cancelled", session: session, namespace: namespace)
                let (entered, enteredContinuation) = AsyncStream.makeStream(of: Void.self)
                let holding = Task { @MainActor in
                    try await mutex.withLock { _ in
                        log.entered += 1
                        enteredContinuation.yield()
                        do {
                            try await sleepUntilCancelledForTest()
                        } catch {
                            log.cancelled += 1
                            throw error
                        }
                    }
                }
                for await _ in entered { break }
                holding.cancel()
                let result = await holding.result
                #expect(throws: (any Error).self) { try result.get() }
                #expect(try await mutex.holder() == nil)
            }
        }
        #expect(log.entered == 1)
        #expect(log.cancelled == 1)
    }

    @Test("a main actor blocked for longer than the TTL inside withLock does not lose the session: keepalives run elsewhere")
    @MainActor func blockedMainActorKeepsTheSession() async throws {
        let namespace = isolationNamespace()
        let key: EtcdKey = "/test/\(namespace)/resource"
        try await TestEnvironment.withClient { client in
            // A TTL of 8 s leaves keepalives ~7.7 s to get one answer through while the whole suite
            // loads the 2-core machine (2 s and 4 s were too tight under CI load); blocking for
            // TTL + 1 s still loses the session if keepalives needed this actor.
            try await EtcdSession.withSession(client, ttl: .seconds(8)) { session in
                let mutex = try EtcdMutex("blocked", session: session, namespace: namespace)
                try await mutex.withLock { lock in
                    // Blocking the main thread is the scenario itself (a busy actor), not a way to
                    // wait for something: no keepalive may depend on this actor.
                    blockThread(for: session.ttl + .seconds(1))
                    #expect(session.isValid)
                    try await mutex.fenced(lock, Txn(then: [.put(key, value: "written".utf8)]))
                }
                #expect(try await client.range(RangeRequest(.key(key))).keyValues.first?.valueString == "written")
                _ = try await client.delete(.prefix("/test/\(namespace)/"))
            }
        }
    }
}
