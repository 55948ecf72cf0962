import Etcd
import EtcdTestSupport
import Testing

@testable import Etcd

@Suite("auth against a real etcd with auth enabled", .timeLimit(.minutes(2)))
struct AuthIntegrationTests {
    @Test("wrong password, permission denied, token refresh, and an authorized watch")
    func auth() async throws {
        try await EtcdCluster.withCluster(members: 1, auth: true) { cluster in
            _ = try await cluster.etcdctl(["user", "add", "alice:alicepw"])
            _ = try await cluster.etcdctl(["role", "add", "orders"])
            _ = try await cluster.etcdctl(["role", "grant-permission", "orders", "readwrite", "--prefix=true", "/orders/"])
            _ = try await cluster.etcdctl(["user", "grant-role", "alice", "orders"])

            var wrong = cluster.configuration()
            wrong.credentials = .init(name: "alice", password: "nope")
            _ = try await EtcdClient.withClient(wrong) { client in
                await #expect {
                    try await client.put("/orders/1", value: [1])
                } throws: { ($0 as? EtcdError)?.code == .authenticationFailed }
            }

            _ = try await EtcdClient.withClient(cluster.configuration()) { anonymous in
                await #expect {
                    try await anonymous.range(RangeRequest(.key("/orders/1")))
                } throws: { ($0 as? EtcdError)?.code == .unauthenticated }
            }

            var alice = cluster.configuration()
            alice.credentials = .init(name: "alice", password: "alicepw")
            try await EtcdClient.withClient(alice) { client in
                try await client.authenticate()
                _ = try await client.put("/orders/1", value: "paid".utf8)
                await #expect {
                    try await client.put("/payroll/1", value: [1])
                } throws: { ($0 as? EtcdError)?.code == .permissionDenied }
                await #expect {
                    try await client.watch(.prefix("/payroll/"))
                } throws: { ($0 as? EtcdError)?.code == .permissionDenied }

                // An invalid cached token (as after a member restart) is refreshed once, transparently.
                client.tokens.store("not-a-token")
                #expect(try await client.range(RangeRequest(.key("/orders/1"))).keyValues.first?.valueString == "paid")
                client.tokens.store("not-a-token")
                let watch = try await client.watch(.prefix("/orders/"))
                _ = try await client.put("/orders/2", value: [2])
                var iterator = watch.makeAsyncIterator()
                #expect(try await iterator.next()?.keyValue.key == "/orders/2")
            }
        }
    }
}
