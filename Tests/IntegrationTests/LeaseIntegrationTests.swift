import Etcd
import EtcdTestSupport
import Testing

@Suite("leases against a real etcd", .timeLimit(.minutes(1)))
struct LeaseIntegrationTests {
    @Test("grant, keepalive, time-to-live with keys, list, revoke deletes the keys")
    func lifecycle() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let lease = try await client.grantLease(ttlSeconds: 20)
                prefix.register(lease.id)
                #expect(lease.ttlSeconds == 20)
                _ = try await client.put(prefix("owned"), value: "x".utf8, lease: lease.id)
                let renewed = try await client.keepAliveOnce(lease.id)
                #expect(renewed.ttlSeconds == 20 && renewed.id == lease.id)
                let info = try await client.timeToLive(lease.id, includeKeys: true)
                #expect(info.keys == [prefix("owned")])
                #expect(info.grantedTTLSeconds == 20 && info.ttlSeconds > 0 && !info.isExpired)
                #expect(try await client.leases().ids.contains(lease.id))
                let read = try await client.range(RangeRequest(.key(prefix("owned"))))
                #expect(read.keyValues.first?.lease == lease.id)
                _ = try await client.revokeLease(lease.id)
                #expect(try await client.range(RangeRequest(prefix.range)).count == 0)
                #expect(try await client.timeToLive(lease.id).isExpired)
            }
        }
    }

    @Test("a gone lease: keepalive, revoke and put with it give lease_not_found")
    func goneLease() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let lease = try await client.grantLease(ttlSeconds: 20)
                _ = try await client.revokeLease(lease.id)
                let isLeaseNotFound: @Sendable (any Error) -> Bool = { ($0 as? EtcdError)?.code == .leaseNotFound }
                await #expect(performing: { try await client.keepAliveOnce(lease.id) }, throws: isLeaseNotFound)
                await #expect(performing: { try await client.revokeLease(lease.id) }, throws: isLeaseNotFound)
                await #expect(
                    performing: { try await client.put(prefix("k"), value: [1], lease: lease.id) }, throws: isLeaseNotFound)
                #expect(try await client.range(RangeRequest(prefix.range)).count == 0)
            }
        }
    }

    @Test("a lease without keepalives expires and takes its keys with it")
    func expiry() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let lease = try await client.grantLease(ttlSeconds: 2)
                prefix.register(lease.id)
                _ = try await client.put(prefix("temporary"), value: [1], lease: lease.id)
                let expired = try await eventually(within: .seconds(10)) {
                    try await client.timeToLive(lease.id).isExpired
                }
                #expect(expired)
                #expect(try await client.range(RangeRequest(prefix.range)).count == 0)
            }
        }
    }

    @Test("a TTL of zero or less is rejected before anything is sent", arguments: [0, -1, Int64.min])
    func invalidTTL(ttl: Int64) async throws {
        try await TestEnvironment.withClient { client in
            await #expect {
                try await client.grantLease(ttlSeconds: ttl)
            } throws: { ($0 as? EtcdError)?.code == .invalidArgument }
        }
    }
}
