import Etcd
import EtcdLock
import EtcdTestSupport
import Testing

private func uniqueNamespace() -> String { "election-\(Int.random(in: 0..<1_000_000_000))" }

@Suite("leader election against a real etcd", .timeLimit(.minutes(2)))
struct ElectionIntegrationTests {
    @Test("one leader at a time; resigning hands over in campaign order; observe sees each change in order")
    func handover() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { observerSession in
                let watcher = try EtcdElection("primary", session: observerSession, namespace: namespace)
                let changes = try await watcher.observe()
                var seen = changes.makeAsyncIterator()
                #expect(try await seen.next() == .some(nil))

                try await EtcdSession.withSession(client) { a in
                    try await EtcdSession.withSession(client) { b in
                        let electionA = try EtcdElection("primary", session: a, namespace: namespace)
                        let electionB = try EtcdElection("primary", session: b, namespace: namespace)
                        let leaderA = try await electionA.campaign(value: "a".utf8)
                        #expect(try await seen.next()??.valueString == "a")
                        let campaignB = Task { try await electionB.campaign(value: "b".utf8) }
                        #expect(try await eventually(within: .seconds(5)) {
                            try await client.range(RangeRequest(.prefix(electionA.prefix), countOnly: true)).count == 2
                        })
                        #expect(try await watcher.leader()?.valueString == "a")
                        try await electionA.proclaim("a2".utf8, as: leaderA)
                        #expect(try await seen.next()??.valueString == "a2")
                        try await electionA.resign(leaderA)
                        let leaderB = try await campaignB.value
                        #expect(leaderB.token > leaderA.token)
                        #expect(try await seen.next()??.valueString == "b")
                        #expect(try await watcher.leader()?.key == leaderB.key)
                        try await electionB.resign(leaderB)
                        #expect(try await seen.next() == .some(nil))
                        await #expect { try await electionA.proclaim("late".utf8, as: leaderA) } throws: {
                            ($0 as? LockError)?.code == .ownershipLost
                        }
                    }
                }
                changes.cancel()
            }
        }
    }

    @Test("a campaign whose session expired while waiting never claims leadership")
    func expiredCampaign() async throws {
        let namespace = uniqueNamespace()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { leaderSession in
                let election = try EtcdElection("guarded", session: leaderSession, namespace: namespace)
                let leadership = try await election.campaign(value: "incumbent".utf8)
                let outcome = try await EtcdSession.withSession(client) { challengerSession -> (any Error)? in
                    let challenger = try EtcdElection("guarded", session: challengerSession, namespace: namespace)
                    let campaign = Task { try await challenger.campaign(value: "challenger".utf8) }
                    #expect(try await eventually(within: .seconds(5)) {
                        try await client.range(RangeRequest(.prefix(election.prefix), countOnly: true)).count == 2
                    })
                    _ = try await client.revokeLease(challengerSession.lease)
                    // The incumbent steps down too: a campaign that did not re-check would now lead.
                    try await election.resign(leadership)
                    switch await campaign.result {
                    case .success: return nil
                    case .failure(let error): return error
                    }
                }
                let code = (outcome as? LockError)?.code
                #expect(code == .sessionLost || code == .ownershipLost, "the expired campaign returned \(String(describing: outcome))")
                #expect(try await election.leader() == nil)
            }
        }
    }
}
