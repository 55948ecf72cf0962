import Etcd

/// Two tenants on one etcd with auth on: each etcd user has one role, read-write on its own
/// namespace's prefix only (the README's `etcdctl` lines).
public struct Tenants: Sendable {
    /// The cluster, with auth on (root's password is `root`).
    public let cluster: EtcdCluster
    /// Alice's namespace.
    public let namespaceA = "team-a"
    /// Bob's namespace.
    public let namespaceB = "team-b"

    /// Adds users `alice` (namespace A) and `bob` (namespace B), each with a role for its prefix.
    public static func create(_ cluster: EtcdCluster) async throws -> Tenants {
        let tenants = Tenants(cluster: cluster)
        for (user, namespace) in [("alice", tenants.namespaceA), ("bob", tenants.namespaceB)] {
            let role = "etcdlock-\(namespace)"
            _ = try await cluster.etcdctl(["role", "add", role])
            _ = try await cluster.etcdctl(["role", "grant-permission", role, "readwrite", "--prefix=true", "/etcdlock/\(namespace)/"])
            _ = try await cluster.etcdctl(["user", "add", "\(user):\(user)-password"])
            _ = try await cluster.etcdctl(["user", "grant-role", user, role])
        }
        return tenants
    }

    /// The `NAME:PASSWORD` of `user`, as `etcdlock --user` takes it.
    public func userOption(_ user: String) -> String { "\(user):\(user)-password" }

    /// A client configuration for `user` (`alice` or `bob`).
    public func configuration(_ user: String) -> EtcdClient.Configuration {
        var configuration = cluster.configuration()
        configuration.credentials = .init(name: user, password: "\(user)-password")
        return configuration
    }

    /// Every key under namespace B with its value, revisions and lease, as root sees it.
    public func namespaceBState() async throws -> [KeyValue] {
        var root = cluster.configuration()
        root.credentials = .init(name: "root", password: "root")
        return try await EtcdClient.withClient(root) { client in
            try await client.range(RangeRequest(.prefix(EtcdKey("/etcdlock/\(namespaceB)/")))).keyValues
        }
    }
}
