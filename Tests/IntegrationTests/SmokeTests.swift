import Etcd
import EtcdTestSupport
import Testing

@Suite("smoke")
struct SmokeTests {
    @Test("put, range, txn, lease and watch round trip")
    func roundTrip() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let put = try await client.put(prefix("a"), value: "v1".utf8)
                let read = try await client.range(RangeRequest(.key(prefix("a"))))
                #expect(read.keyValues.first?.valueString == "v1")
                #expect(read.keyValues.first?.createRevision == put.header.revision)
                let watch = try await client.watch(prefix.range)
                _ = try await client.put(prefix("b"), value: "v2".utf8)
                var iterator = watch.makeAsyncIterator()
                let event = try await iterator.next()
                #expect(event?.keyValue.key == prefix("b"))
                let lease = try await client.grantLease(ttlSeconds: 5)
                prefix.register(lease.id)
                let alive = try await client.keepAliveOnce(lease.id)
                #expect(alive.ttlSeconds == 5)
            }
        }
    }
}
