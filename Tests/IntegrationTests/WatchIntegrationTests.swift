import Etcd
import EtcdTestSupport
import Testing

@Suite("watches against a real etcd", .timeLimit(.minutes(1)))
struct WatchIntegrationTests {
    @Test("a watch from now sees each later put and delete in order, with previous values")
    func fromNow() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let watch = try await client.watch(prefix.range, options: WatchOptions(includePrevious: true))
                let put = try await client.put(prefix("a"), value: "1".utf8)
                #expect(watch.startRevision <= put.header.revision)
                _ = try await client.put(prefix("a"), value: "2".utf8)
                _ = try await client.delete(.key(prefix("a")))
                var iterator = watch.makeAsyncIterator()
                var events: [WatchEvent] = []
                for _ in 0..<3 { events.append(try #require(try await iterator.next())) }
                #expect(events.map(\.kind) == [.put, .put, .delete])
                #expect(events.map(\.keyValue.valueString) == ["1", "2", ""])
                #expect(events[1].previous?.valueString == "1")
                #expect(events[2].previous?.valueString == "2")
                #expect(zip(events, events.dropFirst()).allSatisfy { $0.revision < $1.revision })
                watch.cancel()
                #expect(try await iterator.next() == nil)
            }
        }
    }

    @Test("a watch from a past revision delivers every event since, in order")
    func fromRevision() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                var revisions: [Revision] = []
                for index in 0..<20 {
                    revisions.append(try await client.put(prefix("k\(index % 3)"), value: "\(index)".utf8).header.revision)
                }
                let watch = try await client.watch(prefix.range, options: WatchOptions(startRevision: revisions[5]))
                var iterator = watch.makeAsyncIterator()
                var seen: [Revision] = []
                while seen.count < 15, let event = try await iterator.next() { seen.append(event.revision) }
                #expect(seen == Array(revisions[5...]))
            }
        }
    }

    @Test("filters drop the excluded kind of event")
    func filters() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let watch = try await client.watch(prefix.range, options: WatchOptions(excluding: [.put]))
                _ = try await client.put(prefix("x"), value: [1])
                let deleted = try await client.delete(.key(prefix("x")))
                var iterator = watch.makeAsyncIterator()
                let event = try #require(try await iterator.next())
                #expect(event.kind == .delete)
                #expect(event.revision == deleted.header.revision)
            }
        }
    }

    @Test("a compacted start revision throws compacted with the compact revision; so does a range")
    func compaction() async throws {
        // Compaction discards the whole cluster's history, so this test has a cluster of its own.
        try await EtcdCluster.withCluster(members: 1) { cluster in
            try await EtcdClient.withClient(cluster.configuration()) { client in
                let old = try await client.put("/compaction/v", value: [1]).header.revision
                let newer = try await client.put("/compaction/v", value: [2]).header.revision
                _ = try await client.compact(to: newer)
                await #expect {
                    try await client.watch(.prefix("/compaction/"), options: WatchOptions(startRevision: old))
                } throws: { error in
                    guard let error = error as? EtcdError else { return false }
                    return error.code == .compacted && error.compactRevision == newer
                }
                await #expect {
                    try await client.range(RangeRequest(.prefix("/compaction/"), revision: old))
                } throws: { ($0 as? EtcdError)?.code == .compacted }
                // From the compact revision on, history is still there.
                let watch = try await client.watch(.prefix("/compaction/"), options: WatchOptions(startRevision: newer))
                var iterator = watch.makeAsyncIterator()
                #expect(try await iterator.next()?.revision == newer)
            }
        }
    }

    @Test("cancelling the iterating task ends the watch")
    func taskCancellation() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let watch = try await client.watch(prefix.range)
                let (delivered, signal) = AsyncStream.makeStream(of: Revision.self)
                let iteration = Task {
                    var count = 0
                    for try await event in watch {
                        count += 1
                        signal.yield(event.revision)
                    }
                    return count
                }
                let put = try await client.put(prefix("one"), value: [1])
                var signals = delivered.makeAsyncIterator()
                #expect(await signals.next() == put.header.revision)
                iteration.cancel()
                #expect(try await iteration.value == 1)
            }
        }
    }
}

@Suite("watching several ranges on one stream", .timeLimit(.minutes(1)))
struct MultiRangeWatchTests {
    @Test("events of every watched key arrive in revision order; other keys stay silent")
    func severalKeys() async throws {
        try await TestEnvironment.withClient { client in
            try await withTestPrefix(client) { prefix in
                let watch = try await client.watch([.key(prefix("a")), .key(prefix("c"))])
                let a = try await client.put(prefix("a"), value: [1]).header.revision
                _ = try await client.put(prefix("b"), value: [2])
                let c = try await client.put(prefix("c"), value: [3]).header.revision
                let deleted = try await client.delete(.key(prefix("a"))).header.revision
                var iterator = watch.makeAsyncIterator()
                var revisions: [Revision] = []
                for _ in 0..<3 { revisions.append(try #require(try await iterator.next()).revision) }
                #expect(revisions == [a, c, deleted])
                await #expect { try await client.watch([]) } throws: { ($0 as? EtcdError)?.code == .invalidArgument }
            }
        }
    }
}
