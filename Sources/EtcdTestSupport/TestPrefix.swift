import Etcd
import Synchronization
import Foundation

/// Runs `body` with a key prefix no other test uses (`/test/<UUID>/`), then deletes every key
/// under it and revokes every lease the test registered, even when `body` throws. `body` runs in
/// the caller's isolation.
public func withTestPrefix<Result>(
    _ client: EtcdClient, isolation: isolated (any Actor)? = #isolation, _ body: (TestPrefix) async throws -> Result
) async throws -> Result {
    let prefix = TestPrefix(key: EtcdKey("/test/\(UUID().uuidString)/"))
    do {
        let result = try await body(prefix)
        try await prefix.cleanUp(client)
        return result
    } catch {
        try? await prefix.cleanUp(client)
        throw error
    }
}

/// A test's own key prefix and the leases it created.
public final class TestPrefix: Sendable {
    /// The prefix, ending with `/`.
    public let key: EtcdKey
    private let leases = LeaseRegistry()

    init(key: EtcdKey) { self.key = key }

    /// A key under the prefix.
    public func callAsFunction(_ suffix: String) -> EtcdKey { key.appending(suffix) }

    /// Every key under the prefix.
    public var range: KeyRange { .prefix(key) }

    /// Remembers `lease` so that clean-up revokes it.
    public func register(_ lease: LeaseID) { leases.add(lease) }

    func cleanUp(_ client: EtcdClient) async throws {
        for lease in leases.all {
            do {
                _ = try await client.revokeLease(lease)
            } catch let error as EtcdError where error.code == .leaseNotFound {
                continue
            }
        }
        _ = try await client.delete(range)
    }
}

private final class LeaseRegistry: Sendable {
    private let leases = Mutex<[LeaseID]>([])
    func add(_ lease: LeaseID) { leases.withLock { $0.append(lease) } }
    var all: [LeaseID] { leases.withLock { $0 } }
}
