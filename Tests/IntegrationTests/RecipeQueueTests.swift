import Etcd
@testable import EtcdLock
import EtcdTestSupport
import Testing

/// One acquisition path of a recipe, so queue-level promises are checked for every recipe alike.
struct RecipeUnderTest: Sendable, CustomTestStringConvertible {
    var label: String
    /// The recipe's queue prefix for `name` on `session`.
    var prefix: @Sendable (EtcdSession, String, String) throws -> EtcdKey
    var acquire: @Sendable (EtcdSession, String, String, Duration?) async throws -> LockGuard
    var release: @Sendable (EtcdSession, String, String, LockGuard) async throws -> Void
    var fenced: @Sendable (EtcdSession, String, String, LockGuard, Txn) async throws -> Void

    var testDescription: String { label }

    static let all: [RecipeUnderTest] = [
        RecipeUnderTest(
            label: "mutex", prefix: { try EtcdMutex($1, session: $0, namespace: $2).prefix },
            acquire: { try await EtcdMutex($1, session: $0, namespace: $2).lock(timeout: $3) },
            release: { try await EtcdMutex($1, session: $0, namespace: $2).unlock($3) },
            fenced: { try await EtcdMutex($1, session: $0, namespace: $2).fenced($3, $4) }),
        RecipeUnderTest(
            label: "write lock", prefix: { try EtcdReadWriteLock($1, session: $0, namespace: $2).prefix },
            acquire: { try await EtcdReadWriteLock($1, session: $0, namespace: $2).write(timeout: $3) },
            release: { try await EtcdReadWriteLock($1, session: $0, namespace: $2).unlock($3) },
            fenced: { try await EtcdReadWriteLock($1, session: $0, namespace: $2).fenced($3, $4) }),
        RecipeUnderTest(
            label: "read lock behind a writer",
            prefix: { try EtcdReadWriteLock($1, session: $0, namespace: $2).prefix },
            // The holder takes the write lock, the waiters read.
            acquire: { session, name, namespace, timeout in
                let lock = try EtcdReadWriteLock(name, session: session, namespace: namespace)
                return timeout == nil ? try await lock.write() : try await lock.read(timeout: timeout)
            },
            release: { try await EtcdReadWriteLock($1, session: $0, namespace: $2).unlock($3) },
            fenced: { try await EtcdReadWriteLock($1, session: $0, namespace: $2).fenced($3, $4) }),
        RecipeUnderTest(
            label: "semaphore of one permit", prefix: { try EtcdSemaphore($1, permits: 1, session: $0, namespace: $2).prefix },
            acquire: { try await EtcdSemaphore($1, permits: 1, session: $0, namespace: $2).acquire(timeout: $3) },
            release: { try await EtcdSemaphore($1, permits: 1, session: $0, namespace: $2).release($3) },
            fenced: { try await EtcdSemaphore($1, permits: 1, session: $0, namespace: $2).fenced($3, $4) }),
    ]
}

// Serialized: its cases (one per recipe) open dozens of sessions each; run together, beside the other
// suites, they loaded the one etcd member past the keepalive deadlines of unrelated tests.
@Suite("every recipe on the one queue engine", .serialized, .timeLimit(.minutes(3)))
struct RecipeQueueTests {
    @Test("a waiter that times out or is cancelled leaves no key behind", arguments: RecipeUnderTest.all)
    func abandonedWaitersLeaveNothing(_ recipe: RecipeUnderTest) async throws {
        let namespace = recipeNamespace("abandon")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { holderSession in
                try await EtcdSession.withSession(client) { waiterSession in
                    let prefix = try recipe.prefix(holderSession, "busy", namespace)
                    let held = try await recipe.acquire(holderSession, "busy", namespace, nil)
                    await #expect { try await recipe.acquire(waiterSession, "busy", namespace, .milliseconds(300)) } throws: {
                        ($0 as? LockError)?.code == .timeout
                    }
                    #expect(try await queuedKeys(client, prefix).map(\.key) == [held.key])
                    let waiting = Task { try await recipe.acquire(waiterSession, "busy", namespace, .seconds(30)) }
                    #expect(try await eventually(within: .seconds(10)) { try await queuedKeys(client, prefix).count == 2 })
                    waiting.cancel()
                    await #expect { try await waiting.value } throws: { ($0 as? LockError)?.code == .cancelled }
                    #expect(try await queuedKeys(client, prefix).map(\.key) == [held.key])
                    try await recipe.release(holderSession, "busy", namespace, held)
                    #expect(try await queuedKeys(client, prefix).isEmpty)
                }
            }
        }
    }

    @Test("an old guard of a session never writes under, nor releases, a newer hold of the same session (by their effect)", arguments: RecipeUnderTest.all)
    func oldGuardCannotReleaseNewerHold(_ recipe: RecipeUnderTest) async throws {
        let namespace = recipeNamespace("old-guard")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let prefix = try recipe.prefix(session, "reused", namespace)
                let old = try await recipe.acquire(session, "reused", namespace, nil)
                // An administrator force-releases it; the session learns it and takes the lock again
                // (for a mutex, under the very same key).
                _ = try await client.delete(.key(old.key))
                await #expect { try await recipe.release(session, "reused", namespace, old) } throws: {
                    ($0 as? LockError)?.code == .notHeld
                }
                let newer = try await recipe.acquire(session, "reused", namespace, .seconds(5))
                // The old guard's fenced write is refused, though the session holds again (for a
                // mutex, under the same key): the compare is on the old hold's own create revision.
                let witness: EtcdKey = "/test/\(namespace)/witness"
                await #expect { try await recipe.fenced(session, "reused", namespace, old, Txn(then: [.put(witness, value: "stale".utf8)])) } throws: {
                    ($0 as? LockError)?.code == .ownershipLost
                }
                #expect(try await client.range(RangeRequest(.key(witness))).keyValues.isEmpty, "a stale guard's write landed")
                // The old hold's release reaches etcd again (a late retry, a stale copy of the guard):
                // it must not delete the newer hold.
                let queue = LockQueue(session: session, prefix: prefix, kind: .semaphore, name: "reused")
                #expect(try await queue.releaseReadingBack(old.key, revision: old.token.revision) == false)
                #expect(try await queuedKeys(client, prefix).map(\.createRevision) == [newer.token.revision])
                try await recipe.release(session, "reused", namespace, newer)
            }
        }
    }

    @Test("etcd requests per admission stay constant with 24 waiters instead of growing with them", arguments: RecipeUnderTest.all)
    func requestsPerAdmission(_ recipe: RecipeUnderTest) async throws {
        let few = try await requestsPerAdmission(recipe, waiters: 4)
        let many = try await requestsPerAdmission(recipe, waiters: 24)
        #expect(many <= few * 1.5 + 1, "\(recipe.label): 4 waiters: \(few), 24 waiters: \(many) requests per admission")
    }

    private func requestsPerAdmission(_ recipe: RecipeUnderTest, waiters: Int) async throws -> Double {
        let namespace = recipeNamespace("handoff")
        let configuration = try await TestEnvironment.configuration()
        return try await EtcdClient.withClient(configuration) { client in
            try await EtcdSession.withSession(client, ttl: .seconds(60)) { holderSession in
                let prefix = try recipe.prefix(holderSession, "queue", namespace)
                let first = try await recipe.acquire(holderSession, "queue", namespace, nil)
                var requestsAtRelease = 0
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<waiters {
                        group.addTask {
                            try await EtcdSession.withSession(client, ttl: .seconds(60)) { session in
                                let held = try await recipe.acquire(session, "queue", namespace, .seconds(60))
                                try await recipe.release(session, "queue", namespace, held)
                            }
                        }
                    }
                    #expect(try await eventually(within: .seconds(30)) { try await queuedKeys(client, prefix).count == waiters + 1 })
                    // Let every waiter finish setting up its watch: the count stops moving.
                    var previous = -1
                    #expect(try await eventually(within: .seconds(10), every: .milliseconds(200)) {
                        defer { previous = client.requestsSent }
                        return client.requestsSent == previous
                    })
                    requestsAtRelease = client.requestsSent
                    try await recipe.release(holderSession, "queue", namespace, first)
                    try await group.waitForAll()
                }
                // Each waiter's session revokes its lease at the end: not part of an admission.
                return Double(client.requestsSent - requestsAtRelease - waiters) / Double(waiters)
            }
        }
    }
}
