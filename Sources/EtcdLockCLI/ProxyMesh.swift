import LockVerification

/// The verifier's network: one ``FaultProxy`` between each client slot and each etcd member,
/// so the nemesis can break one client's link to one member while everything else flows.
final class ProxyMesh: Sendable {
    /// The proxies, by client slot then member (0-based).
    private let proxies: [[FaultProxy]]

    /// Starts `clients` × members proxies in front of `memberEndpoints` (loopback URLs).
    init(clients: Int, memberEndpoints: [String]) throws {
        let ports = try memberEndpoints.map { endpoint in
            guard let port = endpoint.split(separator: ":").last.flatMap({ UInt16($0.prefix { $0.isNumber }) }),
                endpoint.contains("127.0.0.1") || endpoint.contains("localhost")
            else { throw UsageError(description: "link faults need loopback members; cannot proxy \(endpoint)") }
            return port
        }
        proxies = try (0..<clients).map { _ in try ports.map { try FaultProxy(upstreamPort: $0) } }
    }

    /// The endpoints client `client` is given: its proxies, rotated by its slot so that the
    /// clients prefer different members.
    func endpoints(client: Int) -> [String] {
        let row = proxies[client].map { "http://127.0.0.1:\($0.port)" }
        let shift = client % row.count
        return Array(row[shift...] + row[..<shift])
    }

    /// The member (1-based) client `client` sent a request to last; `nil` if none yet.
    func lastUsedMember(client: Int) -> Int? {
        let times = proxies[client].map(\.lastRequest)
        guard let latest = times.max(), latest > 0 else { return nil }
        return times.firstIndex(of: latest).map { $0 + 1 }
    }

    /// Sets the link between client `client` and member `member` (1-based) to `mode`.
    func set(client: Int, member: Int, _ mode: LinkMode) {
        proxies[client][member - 1].set(mode)
    }

    /// Heals every link.
    func healAll() {
        for row in proxies { for proxy in row { proxy.set(.pass) } }
    }

    /// Stops every proxy.
    func close() {
        for row in proxies { for proxy in row { proxy.close() } }
    }
}
