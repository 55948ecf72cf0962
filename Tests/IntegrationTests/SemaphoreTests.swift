import Etcd
@testable import EtcdLock
import EtcdTestSupport
import Testing

@Suite("the semaphore against a real etcd", .timeLimit(.minutes(3)))
struct SemaphoreTests {
    @Test("eight sessions, three permits: never more than three inside, three reached, everyone admitted")
    func atMostPermitsHolders() async throws {
        let namespace = recipeNamespace("sem-limit")
        let occupancy = Occupancy()
        let admitted = Occupancy()
        try await TestEnvironment.withClient { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await EtcdSession.withSession(client) { session in
                            let slots = try EtcdSemaphore("slots", permits: 3, session: session, namespace: namespace)
                            try await slots.withPermit(timeout: .seconds(60)) { permit in
                                #expect(permit.mode == .permit)
                                occupancy.enter(limit: 3)
                                defer { occupancy.leave() }
                                admitted.enter(limit: .max)
                                // The first three wait until all three are inside, so the limit is reached.
                                if admitted.mostHolders <= 3 {
                                    let reached = try await eventually(within: .seconds(20)) { occupancy.mostHolders >= 3 }
                                    #expect(reached)
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(occupancy.violations.isEmpty, "\(occupancy.violations)")
            #expect(occupancy.mostHolders == 3)
            #expect(admitted.holders == 8)
        }
    }

    @Test("with every permit held, one more is refused at once by a try and times out when waited for, leaving no key")
    func fullSemaphoreRefuses() async throws {
        let namespace = recipeNamespace("sem-full")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { one in
                try await EtcdSession.withSession(client) { two in
                    let holders = try EtcdSemaphore("full", permits: 2, session: one, namespace: namespace)
                    let other = try EtcdSemaphore("full", permits: 2, session: two, namespace: namespace)
                    let first = try await holders.acquire(timeout: .seconds(5))
                    let second = try await other.acquire(timeout: .seconds(5))
                    guard case .heldByOther(let head) = try await other.tryAcquire() else {
                        Issue.record("a third permit was granted out of two")
                        return
                    }
                    #expect(head.token == first.token)
                    #expect(head.owner == one.owner)
                    await #expect { try await holders.acquire(timeout: .milliseconds(300)) } throws: {
                        ($0 as? LockError)?.code == .timeout
                    }
                    #expect(try await queuedKeys(client, holders.prefix).map(\.createRevision) == [first.token.revision, second.token.revision])
                    try await other.release(second)
                    // A permit is free again: the next one is granted at once.
                    guard case .acquired(let third) = try await other.tryAcquire() else {
                        Issue.record("a freed permit was not granted")
                        return
                    }
                    try await other.release(third)
                    try await holders.release(first)
                }
            }
        }
    }

    @Test("a waiter behind another waiter is admitted when its turn comes: the waiter ahead announces its own admission")
    func chainedWaiterIsAdmitted() async throws {
        let namespace = recipeNamespace("sem-chain")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { a in
                try await EtcdSession.withSession(client) { b in
                    try await EtcdSession.withSession(client) { c in
                        try await EtcdSession.withSession(client) { d in
                            let semaphores = try [a, b, c, d].map { try EtcdSemaphore("chain", permits: 2, session: $0, namespace: namespace) }
                            let first = try await semaphores[0].acquire(timeout: .seconds(5))
                            let second = try await semaphores[1].acquire(timeout: .seconds(5))
                            // The third waits first in line (watching releases ahead of it) …
                            let third = Task { try await semaphores[2].acquire(timeout: .seconds(30)) }
                            #expect(try await eventually(within: .seconds(10)) { try await queuedKeys(client, semaphores[0].prefix).count == 3 })
                            // … the fourth behind it, watching only the third (waited for: a fourth that looked
                            // only after the first release would be first in line, and prove nothing).
                            let thirdKey = try #require(try await queuedKeys(client, semaphores[0].prefix).last?.key)
                            let reporter = WatchReporter(client)
                            let fourthSemaphore = try EtcdSemaphore("chain", permits: 2, session: d, namespace: namespace, store: reporter)
                            let fourth = Task { try await fourthSemaphore.acquire(timeout: .seconds(8)) }
                            try await withDeadline(.seconds(10), "the fourth waiter watching the third") { await reporter.waitForWatch(on: .key(thirdKey)) }
                            try await semaphores[0].release(first)
                            let thirdPermit = try await third.value
                            // The third holds and stays; the fourth's turn comes with the second's release.
                            try await semaphores[1].release(second)
                            let fourthPermit = try await fourth.value
                            #expect(thirdPermit.token < fourthPermit.token)
                            #expect(Set(try await semaphores[0].holders().map(\.token)) == [thirdPermit.token, fourthPermit.token])
                            try await semaphores[2].release(thirdPermit)
                            try await fourthSemaphore.release(fourthPermit)
                        }
                    }
                }
            }
        }
    }

    @Test("a different permit count for a held semaphore is permits_mismatch and leaves no key; bad counts are invalid_argument")
    func permitCountIsChecked() async throws {
        let namespace = recipeNamespace("sem-count")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { one in
                try await EtcdSession.withSession(client) { two in
                    for bad in [0, -1, EtcdSemaphore.maximumPermits + 1] {
                        #expect { try EtcdSemaphore("count", permits: bad, session: one, namespace: namespace) } throws: {
                            ($0 as? LockError)?.code == .invalidArgument
                        }
                    }
                    let two2 = try EtcdSemaphore("count", permits: 2, session: one, namespace: namespace)
                    let held = try await two2.acquire()
                    let three = try EtcdSemaphore("count", permits: 3, session: two, namespace: namespace)
                    await #expect { try await three.acquire(timeout: .seconds(5)) } throws: {
                        ($0 as? LockError)?.code == .permitsMismatch
                    }
                    await #expect { try await three.tryAcquire() } throws: { ($0 as? LockError)?.code == .permitsMismatch }
                    #expect(try await queuedKeys(client, two2.prefix).map(\.createRevision) == [held.token.revision])
                    // The same count is fine, from the same session too: one key per permit.
                    let again = try await EtcdSemaphore("count", permits: 2, session: one, namespace: namespace).acquire(timeout: .seconds(5))
                    #expect(again.key != held.key)
                    try await two2.release(again)
                    try await two2.release(held)
                }
            }
        }
    }
}
