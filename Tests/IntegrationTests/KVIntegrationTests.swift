import Etcd
import EtcdTestSupport
import Testing

@Suite("KV and transactions against a real etcd", .timeLimit(.minutes(1)))
struct KVIntegrationTests {
    @Test("put returns the write's revision; range reads it back with its revisions")
    func putAndRange() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let first = try await client.put(prefix("k"), value: "one".utf8)
                let second = try await client.put(prefix("k"), value: "two".utf8, returnPrevious: true)
                #expect(second.previous?.valueString == "one")
                #expect(second.header.revision > first.header.revision)
                let read = try await client.range(RangeRequest(.key(prefix("k"))))
                let keyValue = try #require(read.keyValues.first)
                #expect(keyValue.valueString == "two")
                #expect(keyValue.createRevision == first.header.revision)
                #expect(keyValue.modRevision == second.header.revision)
                #expect(keyValue.version == 2)
                #expect(read.count == 1)
            }
        }
    }

    @Test("range options: prefix, limit, sort, count-only, keys-only, revision filters, historical reads")
    func rangeOptions() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                var revisions: [Revision] = []
                for name in ["c", "a", "b"] {
                    revisions.append(try await client.put(prefix(name), value: name.utf8).header.revision)
                }
                let all = try await client.range(RangeRequest(prefix.range))
                #expect(all.keyValues.map(\.key) == [prefix("a"), prefix("b"), prefix("c")])
                let oldest = try await client.range(
                    RangeRequest(prefix.range, limit: 1, sort: .init(.createRevision, .ascending)))
                #expect(oldest.keyValues.map(\.key) == [prefix("c")])
                #expect(oldest.hasMore && oldest.count == 3)
                var justBefore = RangeRequest(prefix.range, limit: 1, sort: .init(.createRevision, .descending))
                justBefore.maxCreateRevision = Revision(revisions[2].rawValue - 1)
                #expect(try await client.range(justBefore).keyValues.map(\.key) == [prefix("a")])
                var createdAfter = RangeRequest(prefix.range)
                createdAfter.minCreateRevision = revisions[1]
                #expect(try await client.range(createdAfter).keyValues.map(\.key) == [prefix("a"), prefix("b")])
                let counted = try await client.range(RangeRequest(prefix.range, countOnly: true))
                #expect(counted.count == 3 && counted.keyValues.isEmpty)
                let keysOnly = try await client.range(RangeRequest(prefix.range, keysOnly: true))
                #expect(keysOnly.keyValues.allSatisfy { $0.value.isEmpty } && keysOnly.keyValues.count == 3)
                let historical = try await client.range(RangeRequest(prefix.range, revision: revisions[0]))
                #expect(historical.keyValues.map(\.key) == [prefix("c")])
                let serializable = try await client.range(RangeRequest(prefix.range, consistency: .serializable))
                #expect(serializable.count == 3)
            }
        }
    }

    @Test("delete of a prefix returns what it deleted")
    func deletePrefix() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                _ = try await client.put(prefix("x/1"), value: "1".utf8)
                _ = try await client.put(prefix("x/2"), value: "2".utf8)
                _ = try await client.put(prefix("y"), value: "3".utf8)
                let deleted = try await client.delete(.prefix(prefix("x/")), returnPrevious: true)
                #expect(deleted.deletedCount == 2)
                #expect(Set(deleted.previous.map(\.valueString)) == ["1", "2"])
                #expect(try await client.range(RangeRequest(prefix.range)).keyValues.map(\.key) == [prefix("y")])
            }
        }
    }

    @Test("txn: create-if-absent succeeds once, then runs the failure branch")
    func createIfAbsent() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let key = prefix("lock")
                let txn = Txn(
                    if: [.createRevision(of: key, .equal, .zero)],
                    then: [.put(key, value: "me".utf8), .range(RangeRequest(.key(key)))],
                    else: [.range(RangeRequest(.key(key)))])
                let first = try await client.txn(txn)
                #expect(first.succeeded)
                #expect(first.responses.count == 2)
                guard case .range(let mine) = first.responses[1] else {
                    Issue.record("expected a range")
                    return
                }
                #expect(mine.keyValues.first?.createRevision == first.header.revision)
                let second = try await client.txn(txn)
                #expect(!second.succeeded)
                guard case .range(let existing) = try #require(second.responses.first) else {
                    Issue.record("expected a range")
                    return
                }
                #expect(existing.keyValues.first?.createRevision == first.header.revision)
            }
        }
    }

    @Test("txn compares on value, version, mod revision and lease, with each relation")
    func compares() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let key = prefix("c")
                let lease = try await client.grantLease(ttlSeconds: 30)
                prefix.register(lease.id)
                let put = try await client.put(key, value: "m".utf8, lease: lease.id)
                let revision = put.header.revision
                let holding: [Txn.Compare] = [
                    .value(of: key, .equal, "m".utf8), .value(of: key, .greater, "a".utf8),
                    .value(of: key, .less, "z".utf8), .value(of: key, .notEqual, "n".utf8),
                    .version(of: key, .equal, 1), .modRevision(of: key, .equal, revision),
                    .createRevision(of: key, .less, revision.next), .lease(of: key, .equal, lease.id),
                ]
                for compare in holding {
                    #expect(try await client.txn(Txn(if: [compare])).succeeded, "\(compare) should hold")
                }
                let failing: [Txn.Compare] = [
                    .value(of: key, .equal, "x".utf8), .version(of: key, .greater, 1),
                    .modRevision(of: key, .notEqual, revision), .lease(of: key, .equal, nil),
                ]
                for compare in failing {
                    #expect(try await !client.txn(Txn(if: [compare])).succeeded, "\(compare) should fail")
                }
                let range = try await client.txn(Txn(if: [Txn.Compare(prefix.range, .version(0), .greater)]))
                #expect(range.succeeded)
            }
        }
    }

    @Test("a nested txn runs inside the outer one and reports its own result")
    func nestedTxn() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let inner = Txn(if: [.createRevision(of: prefix("b"), .equal, .zero)], then: [.put(prefix("b"), value: "2".utf8)])
                let outer = Txn(then: [.put(prefix("a"), value: "1".utf8), .txn(inner)])
                let result = try await client.txn(outer)
                #expect(result.succeeded)
                guard case .txn(let nested) = try #require(result.responses.last) else {
                    Issue.record("expected a nested txn result")
                    return
                }
                #expect(nested.succeeded)
                #expect(try await client.range(RangeRequest(prefix.range)).count == 2)
            }
        }
    }

    @Test("etcd's refusals become typed errors: duplicate key in a txn, future revision")
    func etcdRefusals() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                await #expect {
                    try await client.txn(Txn(then: [.put(prefix("d"), value: [1]), .put(prefix("d"), value: [2])]))
                } throws: { ($0 as? EtcdError)?.code == .invalidArgument }
                await #expect {
                    try await client.range(RangeRequest(prefix.range, revision: Revision(Int64.max / 2)))
                } throws: { ($0 as? EtcdError)?.code == .futureRevision }
                let left = try await client.range(RangeRequest(prefix.range))
                #expect(left.count == 0)
            }
        }
    }

    @Test("an empty key is rejected before anything is sent, in every operation")
    func emptyKey() async throws {
        try await TestEnvironment.withClient { client in
            let isInvalidArgument: @Sendable (any Error) -> Bool = { ($0 as? EtcdError)?.code == .invalidArgument }
            await #expect(performing: { try await client.put("", value: [1]) }, throws: isInvalidArgument)
            await #expect(performing: { try await client.range(RangeRequest(.key(""))) }, throws: isInvalidArgument)
            await #expect(performing: { try await client.delete(.key("")) }, throws: isInvalidArgument)
            await #expect(performing: { try await client.watch(.key("")) }, throws: isInvalidArgument)
            await #expect(performing: { try await client.txn(Txn(then: [.put("", value: [1])])) }, throws: isInvalidArgument)
        }
    }
}
