import Etcd
import EtcdLock
import EtcdLockService
import EtcdTestSupport
import Foundation
import Testing

/// Whether `error` is etcd's permission denied, directly or behind a ``LockError``.
func isPermissionDenied(_ error: any Error) -> Bool {
    ((error as? EtcdError) ?? (error as? LockError)?.underlying)?.code == .permissionDenied
}

@Suite("tenant isolation with etcd auth and a role per namespace", .timeLimit(.minutes(3)))
struct RBACIntegrationTests {
    @Test("a client of namespace A can neither read, take, wait on, release nor force-release B's lock; B is unchanged")
    func libraryIsolation() async throws {
        try await EtcdCluster.withCluster(members: 1, auth: true) { cluster in
            let tenants = try await Tenants.create(cluster)
            try await EtcdClient.withClient(tenants.configuration("bob")) { bob in
                try await EtcdSession.withSession(bob, ttl: .seconds(30)) { bobSession in
                    let bobLock = try await EtcdMutex("payments", session: bobSession, namespace: tenants.namespaceB).lock()
                    let before = try await tenants.namespaceBState()
                    #expect(!before.isEmpty)

                    try await EtcdClient.withClient(tenants.configuration("alice")) { alice in
                        try await EtcdSession.withSession(alice, ttl: .seconds(30)) { session in
                            // Alice's own namespace works: the denials below are RBAC's, not a broken client.
                            let own = try await EtcdMutex("payments", session: session, namespace: tenants.namespaceA).lock()
                            #expect(own.token.revision > bobLock.token.revision)
                            try await EtcdMutex("payments", session: session, namespace: tenants.namespaceA).unlock(own)

                            let foreign = try EtcdMutex("payments", session: session, namespace: tenants.namespaceB)
                            await #expect("read", performing: { _ = try await foreign.holder() }, throws: isPermissionDenied)
                            await #expect("inspect", performing: {
                                _ = try await LockAdmin.inspect("payments", namespace: tenants.namespaceB, client: alice)
                            }, throws: isPermissionDenied)
                            await #expect("list", performing: {
                                _ = try await LockAdmin.list(namespace: tenants.namespaceB, client: alice)
                            }, throws: isPermissionDenied)
                            await #expect("take", performing: { _ = try await foreign.tryLock() }, throws: isPermissionDenied)
                            await #expect("wait", performing: { _ = try await foreign.lock(timeout: .seconds(5)) }, throws: isPermissionDenied)
                            let stolen = try LockHandle(
                                name: "payments", namespace: tenants.namespaceB, lease: bobSession.lease, token: bobLock.token)
                            await #expect("release", performing: { _ = try await stolen.release(client: alice) }, throws: isPermissionDenied)
                            await #expect("renew", performing: { _ = try await stolen.renew(client: alice) }, throws: isPermissionDenied)
                            await #expect("force-release", performing: {
                                _ = try await LockAdmin.forceRelease("payments", namespace: tenants.namespaceB, client: alice)
                            }, throws: isPermissionDenied)
                            #expect(session.isValid)
                        }
                    }

                    #expect(try await tenants.namespaceBState() == before)
                    #expect(try await EtcdMutex("payments", session: bobSession, namespace: tenants.namespaceB).holder()?.token == bobLock.token)
                    try await EtcdMutex("payments", session: bobSession, namespace: tenants.namespaceB).unlock(bobLock)
                }
            }
        }
    }

    @Test("the same roles hold over mutual TLS (etcd-cluster --tls --auth): A's user takes A's lock, not B's")
    func isolationOverMutualTLS() async throws {
        try await EtcdCluster.withCluster(members: 1, auth: true, tls: true) { cluster in
            let tenants = try await Tenants.create(cluster)
            #expect(cluster.endpoints.allSatisfy { $0.hasPrefix("https://") })
            try await EtcdClient.withClient(tenants.configuration("alice")) { alice in
                try await EtcdSession.withSession(alice, ttl: .seconds(10)) { session in
                    let own = try await EtcdMutex("payments", session: session, namespace: tenants.namespaceA).lock()
                    try await EtcdMutex("payments", session: session, namespace: tenants.namespaceA).unlock(own)
                    let foreign = try EtcdMutex("payments", session: session, namespace: tenants.namespaceB)
                    await #expect("take", performing: { _ = try await foreign.tryLock() }, throws: isPermissionDenied)
                }
            }
            #expect(try await tenants.namespaceBState().isEmpty)
        }
    }

    @Test("etcdlock serve running as A's etcd user answers 403 permission_denied for B's locks; B is unchanged")
    func serviceIsolation() async throws {
        try await EtcdCluster.withCluster(members: 1, auth: true) { cluster in
            let tenants = try await Tenants.create(cluster)
            let bobHandle = try await EtcdClient.withClient(tenants.configuration("bob")) { bob in
                try await LockHandle.acquire(
                    "payments", namespace: tenants.namespaceB, client: bob, ttl: .seconds(30), owner: "bob", wait: .zero)
            }
            guard case .acquired(let held, _) = bobHandle else {
                Issue.record("bob could not take his own lock: \(bobHandle)")
                return
            }
            let before = try await tenants.namespaceBState()
            // A tokens file that (wrongly) gives a caller of A's replica namespace B: etcd's RBAC
            // is the line of defence this test proves.
            let tokens = try AccessTokens(parsing: "token-a \(tenants.namespaceA) admin\ntoken-b \(tenants.namespaceB) admin\n")
            try await EtcdClient.withClient(tenants.configuration("alice")) { alice in
                let service = LockService(client: alice, configuration: LockService.Configuration(tokens: tokens))
                let server = try HTTPServer(HTTPServer.Configuration(host: "127.0.0.1", port: 0), handler: service.handle)
                do {
                    let port = server.port
                    let healthy = try await request(port, "GET", "/healthz")
                    #expect(healthy.status == 200, "\(healthy.body)")
                    let own = try await request(
                        port, "POST", "/v1/locks/payments:acquire", body: #"{"ttl_seconds": 5, "wait_seconds": 0}"#, token: "token-a")
                    #expect(own.status == 200, "\(own.body)")
                    let handle = #"{"token": \#(held.token.rawValue), "lease": \#(held.lease.rawValue)}"#
                    let attempts: [(String, String, String?)] = [
                        ("GET", "/v1/locks/payments", nil),
                        ("GET", "/v1/locks?prefix=pay", nil),
                        ("POST", "/v1/locks/payments:acquire", #"{"ttl_seconds": 5, "wait_seconds": 0}"#),
                        ("POST", "/v1/locks/payments:acquire", #"{"ttl_seconds": 5, "wait_seconds": 2}"#),
                        ("POST", "/v1/locks/payments:renew", handle),
                        ("POST", "/v1/locks/payments:release", handle),
                        ("POST", "/v1/locks/payments:force-release", "{}"),
                    ]
                    for (method, path, body) in attempts {
                        let answer = try await request(port, method, path, body: body, token: "token-b")
                        #expect(answer.status == 403, "\(method) \(path): \(answer.status) \(answer.body)")
                        #expect(answer.json["error"]?["code"] == .string("permission_denied"), "\(method) \(path): \(answer.body)")
                    }
                } catch {
                    await server.shutdown()
                    throw error
                }
                await server.shutdown()
            }
            #expect(try await tenants.namespaceBState() == before)
            let released = try await EtcdClient.withClient(tenants.configuration("bob")) { bob in
                try await held.release(client: bob)
            }
            #expect(released)
        }
    }
}
