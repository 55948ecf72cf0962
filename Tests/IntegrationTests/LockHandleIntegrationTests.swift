import Etcd
import EtcdLock
import EtcdTestSupport
import Testing

/// A namespace of its own for each test.
private func handleNamespace() -> String { "handles-\(Int.random(in: 0..<1_000_000_000))" }

@Suite("stateless lock handles and admin operations against a real etcd", .timeLimit(.minutes(1)))
struct LockHandleIntegrationTests {
    @Test("a handle is renewed and released by value; a second release and a renew after it report the loss")
    func renewAndRelease() async throws {
        let namespace = handleNamespace()
        try await TestEnvironment.withClient { client in
            let first = try await LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "first", wait: .zero)
            guard case .acquired(let handle, let ttl) = first else { Issue.record("not acquired: \(first)"); return }
            #expect(ttl > .seconds(3))
            // Another attempt meets the holder and leaves nothing behind.
            let second = try await LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "second", wait: .zero)
            guard case .heldByOther(let holder) = second else { Issue.record("acquired twice: \(second)"); return }
            #expect(holder?.token == handle.token)
            #expect(holder?.owner == "first")
            // Rebuilt from its values alone, as another process would.
            let rebuilt = try LockHandle(name: "job", namespace: namespace, lease: handle.lease, token: handle.token)
            #expect(rebuilt == handle)
            #expect(try await rebuilt.renew(client: client) == .held(ttl: .seconds(5)))
            let stale = try LockHandle(name: "job", namespace: namespace, lease: handle.lease, token: FencingToken(rawValue: handle.token.rawValue - 1))
            #expect(try await stale.renew(client: client) == .lost)
            #expect(try await stale.release(client: client) == false)
            #expect(try await rebuilt.release(client: client))
            #expect(try await rebuilt.release(client: client) == false)
            #expect(try await rebuilt.renew(client: client) == .lost)
            #expect(try await client.timeToLive(handle.lease).isExpired)
            #expect(try await LockAdmin.inspect("job", namespace: namespace, client: client).holder == nil)
        }
    }

    @Test("a waiter that times out withdraws its key and revokes its lease; tokens strictly increase")
    func timeoutLeavesNothing() async throws {
        let namespace = handleNamespace()
        try await TestEnvironment.withClient { client in
            guard case .acquired(let holder, _) = try await LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "holder", wait: .zero)
            else { Issue.record("not acquired"); return }
            let waited = try await LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "waiter", wait: .milliseconds(300))
            guard case .timedOut(let seen) = waited else { Issue.record("not timed out: \(waited)"); return }
            #expect(seen?.token == holder.token)
            let state = try await LockAdmin.inspect("job", namespace: namespace, client: client)
            #expect(state.holder?.token == holder.token)
            #expect(state.waiters.isEmpty)
            #expect(try await holder.release(client: client))
            guard case .acquired(let next, _) = try await LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "next", wait: .seconds(5))
            else { Issue.record("not acquired after the release"); return }
            #expect(next.token > holder.token)
            #expect(try await next.release(client: client))
        }
    }

    @Test("a waiter gets the lock when the holder releases it, and the lease is then the caller's alone")
    func waiterGetsLock() async throws {
        let namespace = handleNamespace()
        try await TestEnvironment.withClient { client in
            guard case .acquired(let holder, _) = try await LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "holder", wait: .zero)
            else { Issue.record("not acquired"); return }
            async let waiting = LockHandle.acquire(
                "job", namespace: namespace, client: client, ttl: .seconds(5), owner: "waiter", wait: .seconds(20))
            #expect(try await eventually(within: .seconds(5)) {
                try await LockAdmin.inspect("job", namespace: namespace, client: client).waiters.count == 1
            })
            #expect(try await holder.release(client: client))
            guard case .acquired(let next, _) = try await waiting else { Issue.record("the waiter did not get the lock"); return }
            #expect(next.token > holder.token)
            // Nobody renews it now: the lock goes with the lease's TTL.
            #expect(try await eventually(within: .seconds(6), every: .milliseconds(100)) {
                try await LockAdmin.inspect("job", namespace: namespace, client: client).holder == nil
            })
            #expect(try await next.renew(client: client) == .lost)
        }
    }

    @Test("force-release removes only the holder with the given token; list shows holders and queue lengths")
    func forceReleaseAndList() async throws {
        let namespace = handleNamespace()
        try await TestEnvironment.withClient { client in
            var handles: [LockHandle] = []
            for name in ["alpha", "alpine", "beta", "a/b%c"] {
                guard case .acquired(let handle, _) = try await LockHandle.acquire(
                    name, namespace: namespace, client: client, ttl: .seconds(5), owner: "o-\(name)", wait: .zero)
                else { Issue.record("not acquired"); return }
                handles.append(handle)
            }
            let all = try await LockAdmin.list(namespace: namespace, client: client)
            #expect(all.map(\.name) == ["a/b%c", "alpha", "alpine", "beta"])
            #expect(all.map(\.holder.owner) == ["o-a/b%c", "o-alpha", "o-alpine", "o-beta"])
            #expect(try await LockAdmin.list(namespace: namespace, namePrefix: "alp", client: client).map(\.name) == ["alpha", "alpine"])
            #expect(try await LockAdmin.list(namespace: handleNamespace(), client: client).isEmpty)

            let wrong = try await LockAdmin.forceRelease("beta", namespace: namespace, token: FencingToken(rawValue: 1), client: client)
            #expect(wrong == .notHolder(current: all[3].holder))
            let released = try await LockAdmin.forceRelease("beta", namespace: namespace, token: handles[2].token, client: client)
            guard case .released(let entry, _) = released else { Issue.record("not released: \(released)"); return }
            #expect(entry.token == handles[2].token)
            #expect(try await handles[2].renew(client: client) == .lost)
            #expect(try await LockAdmin.forceRelease("beta", namespace: namespace, client: client) == .free)
            for handle in handles { _ = try await handle.release(client: client) }
            #expect(try await LockAdmin.list(namespace: namespace, client: client).isEmpty)
        }
    }
}
