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
                let waiter = try EtcdMutex("job", session: survivor, namespace: namespace, lockDelay: .seconds(2))
                let markerKey = try marker("job", namespace)
                var lostToken: FencingToken?
                do {
                    try await EtcdSession.withSession(client, ttl: .seconds(2)) { doomed in
                        let holder = try EtcdMutex("job", session: doomed, namespace: namespace, lockDelay: .seconds(2))
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
                #expect(standing.map { now?.createRevision != $0.createRevision } ?? false)
                try await waiter.unlock(next)
            }
        }
    }

    @Test("readers wait out a lost writer's lock-delay too; a session closed normally leaves none")
    func readersHonourAWritersDelay() async throws {
        let namespace = recipeNamespace("delay-rw")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { survivor in
                let reader = try EtcdReadWriteLock("table", session: survivor, namespace: namespace, lockDelay: .seconds(2))
                try await EtcdSession.withSession(client, ttl: .seconds(2)) { closing in
                    let writer = try EtcdReadWriteLock("table", session: closing, namespace: namespace, lockDelay: .seconds(2))
                    _ = try await writer.write()
                }
                // That session closed normally: its writer's hold counts as released, no delay.
                guard case .acquired(let read) = try await reader.tryRead() else {
                    Issue.record("a normally closed session's lock-delay applied")
                    return
                }
                try await reader.unlock(read)
                do {
                    try await EtcdSession.withSession(client, ttl: .seconds(2)) { doomed in
                        let writer = try EtcdReadWriteLock("table", session: doomed, namespace: namespace, lockDelay: .seconds(2))
                        _ = try await writer.write()
                        _ = try await client.revokeLease(doomed.lease)
                        _ = try await doomed.waitUntilLost()
                    }
                } catch {}
                guard case .heldByOther = try await reader.tryRead() else {
                    Issue.record("a reader was admitted during a lost writer's lock-delay")
                    return
                }
                let late = try await reader.read(timeout: .seconds(20))
                try await reader.unlock(late)
            }
        }
    }
}
