import Etcd
import EtcdLock
import EtcdTestSupport
import Testing

/// Finds which member (1-based) leads and which follow.
private func roles(_ cluster: EtcdCluster, _ client: EtcdClient) async throws -> (leader: Int, followers: [Int]) {
    var leader = 0
    var followers: [Int] = []
    for index in cluster.endpoints.indices {
        let status = try await client.status(endpointIndex: index)
        if status.isLeader { leader = index + 1 } else { followers.append(index + 1) }
    }
    return (leader, followers)
}

/// A follower (1-based) and a configuration whose first endpoint is that follower's, so the
/// client uses it when the test kills or freezes it.
private func followerFirst(
    _ cluster: EtcdCluster, requestTimeout: Duration = .seconds(5)
) async throws -> (victim: Int, configuration: EtcdClient.Configuration) {
    let probe = try EtcdClient(configuration: cluster.configuration())
    let (_, followers) = try await roles(cluster, probe)
    await probe.shutdown()
    let victim = try #require(followers.first)
    var configuration = cluster.configuration(requestTimeout: requestTimeout)
    configuration.endpoints = [cluster.endpoints[victim - 1]] + cluster.endpoints.enumerated()
        .filter { $0.offset != victim - 1 }.map(\.element)
    return (victim, configuration)
}

/// Creates `key` once; safe to retry after an ambiguous failure. Returns the key's create revision.
private func createOnce(_ client: EtcdClient, _ key: EtcdKey, within limit: Duration) async throws -> Revision {
    let end = ContinuousClock.now + limit
    let txn = Txn(
        if: [.createRevision(of: key, .equal, .zero)], then: [.put(key, value: Array(key.description.utf8))],
        else: [.range(RangeRequest(.key(key)))])
    while true {
        do {
            let result = try await client.txn(txn, retry: .idempotent)
            if result.succeeded { return result.header.revision }
            guard case .range(let existing) = result.responses.first, let created = existing.keyValues.first else {
                throw TestEnvironmentError(description: "create-if-absent of \(key) found nothing")
            }
            return created.createRevision
        } catch let error as EtcdError where ContinuousClock.now < end {
            // Typed and expected while a leader is elected: try again.
            _ = error
        }
    }
}

@Suite("failover in a 3-member cluster", .serialized, .timeLimit(.minutes(3)))
struct FailoverIntegrationTests {
    @Test("moveLeader hands leadership to the member named; a follower asked to do it refuses, typed")
    func moveLeader() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            try await EtcdClient.withClient(cluster.configuration()) { client in
                let (leader, followers) = try await roles(cluster, client)
                let target = try #require(followers.first)
                let targetID = try await client.status(endpointIndex: target - 1).header.memberID
                let refusal = await #expect(throws: EtcdError.self) {
                    try await client.moveLeader(to: targetID, endpointIndex: target - 1)
                }
                #expect(refusal?.code == .failedPrecondition)
                try await client.moveLeader(to: targetID, endpointIndex: leader - 1)
                let after = try await roles(cluster, client)
                #expect(after.leader == target)
                _ = try await client.put("/move-leader/after", value: [1])
            }
        }
    }

    @Test("calls keep succeeding when the follower they use is killed")
    func followerKilled() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            let (victim, configuration) = try await followerFirst(cluster)
            try await EtcdClient.withClient(configuration) { client in
                _ = try await client.put("/failover/a", value: [1])
                try await cluster.kill(member: victim)
                for index in 0..<20 {
                    _ = try await client.put("/failover/k\(index)", value: [UInt8(index)])
                }
                #expect(try await client.range(RangeRequest(.prefix("/failover/"))).count == 21)
            }
        }
    }

    @Test("when the leader is killed, calls fail only with typed errors and writes resume after the election")
    func leaderKilled() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            try await EtcdClient.withClient(cluster.configuration(requestTimeout: .seconds(3))) { client in
                let (leader, _) = try await roles(cluster, client)
                try await cluster.kill(member: leader)
                var consecutive = 0
                var attempts = 0
                let end = ContinuousClock.now + .seconds(30)
                while consecutive < 10 && ContinuousClock.now < end {
                    attempts += 1
                    let (outcome, elapsed) = await measure { () -> (any Error)? in
                        do {
                            _ = try await client.put("/leader-loss/\(attempts)", value: [1])
                            return nil
                        } catch { return error }
                    }
                    #expect(elapsed < .seconds(4), "a call outlived its deadline: \(elapsed)")
                    if let outcome {
                        #expect(outcome is EtcdError, "untyped error: \(outcome)")
                        consecutive = 0
                    } else {
                        consecutive += 1
                    }
                }
                #expect(consecutive == 10, "writes did not resume within 30 s (\(attempts) attempts)")
            }
        }
    }

    @Test("killing the member a watch streams from loses and duplicates no event")
    func watchSurvivesKill() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            // The watcher streams from member 1; the writer prefers member 3.
            let watcherConfiguration = cluster.configuration()
            var writerConfiguration = cluster.configuration()
            writerConfiguration.endpoints = [cluster.endpoints[2], cluster.endpoints[1]]
            try await EtcdClient.withClient(watcherConfiguration) { watcher in
                try await EtcdClient.withClient(writerConfiguration) { writer in
                    let watch = try await watcher.watch(.prefix("/watched/"))
                    let total = 60
                    async let created: [Revision] = {
                        var revisions: [Revision] = []
                        for index in 0..<total {
                            if index == 20 { try await cluster.kill(member: 1) }
                            revisions.append(try await createOnce(writer, "/watched/\(index)", within: .seconds(30)))
                        }
                        return revisions
                    }()
                    let received = try await withDeadline(.seconds(60), "receiving \(total) events") {
                        var events: [WatchEvent] = []
                        var iterator = watch.makeAsyncIterator()
                        while events.count < total, let event = try await iterator.next() { events.append(event) }
                        return events
                    }
                    let revisions = try await created
                    #expect(received.map(\.revision) == revisions)
                    #expect(received.map(\.keyValue.key) == (0..<total).map { EtcdKey("/watched/\($0)") })
                    #expect(received.allSatisfy { $0.kind == .put })
                }
            }
        }
    }

    @Test("a watch on a member frozen with SIGSTOP resumes on another member: nothing lost or repeated")
    func watchSurvivesFreeze() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            let probe = try EtcdClient(configuration: cluster.configuration())
            let (_, followers) = try await roles(cluster, probe)
            await probe.shutdown()
            let victim = try #require(followers.first)
            let others = cluster.endpoints.enumerated().filter { $0.offset != victim - 1 }.map(\.element)
            var watcherConfiguration = cluster.configuration()
            watcherConfiguration.endpoints = [cluster.endpoints[victim - 1]] + others
            watcherConfiguration.memberProbeInterval = .seconds(1)
            watcherConfiguration.memberProbeTimeout = .seconds(1)
            var writerConfiguration = cluster.configuration()
            writerConfiguration.endpoints = others
            try await EtcdClient.withClient(watcherConfiguration) { watcher in
                try await EtcdClient.withClient(writerConfiguration) { writer in
                    let watch = try await watcher.watch(.prefix("/frozen-watch/"))
                    var revisions: [Revision] = []
                    for index in 0..<5 {
                        revisions.append(try await createOnce(writer, "/frozen-watch/\(index)", within: .seconds(10)))
                    }
                    try await cluster.freeze(member: victim)
                    for index in 5..<15 {
                        revisions.append(try await createOnce(writer, "/frozen-watch/\(index)", within: .seconds(10)))
                    }
                    let expected = revisions
                    let received = try await withDeadline(.seconds(20), "receiving events after the freeze") {
                        var events: [Revision] = []
                        var iterator = watch.makeAsyncIterator()
                        while events.count < expected.count, let event = try await iterator.next() {
                            events.append(event.revision)
                        }
                        return events
                    }
                    #expect(received == expected)
                    try await cluster.resume(member: victim)
                }
            }
        }
    }

    @Test("a session keeps its lease when the member its keepalives go to is frozen")
    func sessionSurvivesFrozenMember() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            let (victim, configuration) = try await followerFirst(cluster)
            try await EtcdClient.withClient(configuration) { client in
                try await EtcdSession.withSession(client, ttl: .seconds(3)) { session in
                    let frozenAt = ContinuousClock.now
                    try await cluster.freeze(member: victim)
                    // Keepalives must keep landing on the other members: the session's validity
                    // moves past two TTLs after the freeze, or the session is lost (a keepalive
                    // stuck on the frozen member outlasted the TTL).
                    let settled = try await eventually(within: .seconds(15)) {
                        session.validUntil > frozenAt + .seconds(6) || !session.isValid
                    }
                    #expect(settled)
                    #expect(session.isValid, "the session was lost: \(String(describing: session.loss))")
                    try await cluster.resume(member: victim)
                }
            }
        }
    }

    @Test("a write that must not be sent twice waits out a frozen member's deadline, ambiguous; then calls move on")
    func frozenMember() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            let (victim, configuration) = try await followerFirst(cluster, requestTimeout: .seconds(1))
            try await EtcdClient.withClient(configuration) { client in
                _ = try await client.put("/frozen/warm", value: [1])
                try await cluster.freeze(member: victim)
                let (first, firstTime) = await measure { () -> (any Error)? in
                    do {
                        _ = try await client.put("/frozen/first", value: [1])
                        return nil
                    } catch { return error }
                }
                #expect((first as? EtcdError)?.code == .timeout)
                #expect((first as? EtcdError)?.mayHaveBeenApplied == true)
                #expect(firstTime < .seconds(2))
                // The next calls go to a live member, each well within its deadline.
                let (_, rest) = try await measure {
                    for index in 0..<10 { _ = try await client.put("/frozen/\(index)", value: [1]) }
                }
                #expect(rest < .seconds(1))
                #expect(try await client.range(RangeRequest(.prefix("/frozen/"), keysOnly: true)).keyValues.count >= 11)
                try await cluster.resume(member: victim)
            }
        }
    }

    @Test("with the first member frozen, a fresh client's session, lock and unlock move on to another member at once, every time")
    func frozenFirstMemberLock() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            let (victim, configuration) = try await followerFirst(cluster, requestTimeout: .seconds(5))
            try await cluster.freeze(member: victim)
            for attempt in 0..<5 {
                // A fresh client each time: nothing learned from an earlier attempt helps.
                let (_, elapsed) = try await measure {
                    try await EtcdClient.withClient(configuration) { client in
                        try await EtcdSession.withSession(client, ttl: .seconds(5)) { session in
                            let mutex = try EtcdMutex("frozen-first-\(attempt)", session: session)
                            try await mutex.unlock(try await mutex.lock(timeout: .seconds(5)))
                        }
                    }
                }
                // Far below the 5 s call deadline a hung member used to cost.
                #expect(elapsed < .seconds(3), "attempt \(attempt) took \(elapsed)")
            }
            try await cluster.resume(member: victim)
        }
    }
}
