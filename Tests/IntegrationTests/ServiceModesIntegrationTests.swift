import Etcd
import EtcdLock
import EtcdLockService
import EtcdTestSupport
import Foundation
import Testing

/// The handle fields of an `:acquire` answer, with `extra` fields (the mode or permits), as a
/// `:renew` or `:release` body.
private func handleBody(_ answer: HTTPAnswer, _ extra: String = "") throws -> String {
    let token = try #require(answer.json["token"]?.int, "\(answer.body)")
    let lease = try #require(answer.json["lease"]?.int, "\(answer.body)")
    return #"{"token": \#(token), "lease": \#(lease)\#(extra)}"#
}

/// Runs `body` with `count` replicas serving a namespace of its own to bearer token `t`; checks
/// afterwards that nothing of the namespace is left in etcd.
private func withNamespace(_ count: Int, _ body: @escaping @Sendable ([Int]) async throws -> Void) async throws {
    let namespace = "modes-\(Int.random(in: 0..<1_000_000_000))"
    let grants: [String: AccessTokens.Grant] = ["t": .init(namespace: namespace, role: .client)]
    try await withReplicas(count, tokens: AccessTokens(grants: grants)) { replicas in
        try await body(replicas.map(\.port))
    }
    #expect(try await keyCount(namespace) == 0)
}

@Suite("read/write locks and semaphores over HTTP", .timeLimit(.minutes(2)))
struct ServiceModesIntegrationTests {
    @Test("readers share, a writer waits for them and then holds alone; renew, release and inspect work in both modes")
    func readWriteLock() async throws {
        try await withNamespace(2) { ports in
            let (a, b) = (ports[0], ports[1])
            let first = try await request(a, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "read", "owner": "r1"}"#, token: "t")
            let second = try await request(b, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "read", "owner": "r2"}"#, token: "t")
            #expect(first.status == 200, "\(first.body)")
            #expect(second.status == 200, "readers share the lock: \(second.body)")
            #expect(first.json["mode"] == .string("read"))
            let refused = try await request(a, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "write"}"#, token: "t")
            #expect(refused.status == 409)
            #expect(refused.json["error"]?["code"] == .string("held"))
            // The mutex of the same name is another lock.
            let mutex = try await request(a, "POST", "/v1/locks/doc:acquire", body: "{}", token: "t")
            #expect(mutex.status == 200)
            #expect(try await request(a, "POST", "/v1/locks/doc:release", body: try handleBody(mutex), token: "t").status == 200)

            async let writing = request(
                b, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "write", "wait_seconds": 20, "owner": "w"}"#, token: "t")
            #expect(try await eventually(within: .seconds(20)) {
                let inspected = try await request(a, "GET", "/v1/locks/doc?kind=rwlock", token: "t")
                return inspected.json["waiters"]?.array.count == 1
            })
            let inspected = try await request(a, "GET", "/v1/locks/doc?kind=rwlock", token: "t")
            #expect(inspected.json["mode"] == .string("read"))
            #expect(inspected.json["holders"]?.array.compactMap { $0["owner"]?.text }.sorted() == ["r1", "r2"])
            #expect(inspected.json["waiters"]?.array.first?["mode"] == .string("write"))
            #expect(!inspected.body.contains(#""lease""#), "an inspection leaked a lease")

            // Renewed and released on the other replica, with the mode; without it, it is another key.
            let firstRead = try handleBody(first, #", "mode": "read""#)
            #expect(try await request(b, "POST", "/v1/locks/doc:renew", body: firstRead, token: "t").status == 200)
            #expect(try await request(b, "POST", "/v1/locks/doc:renew", body: try handleBody(first), token: "t").status == 410)
            #expect(try await request(b, "POST", "/v1/locks/doc:release", body: firstRead, token: "t").status == 200)
            #expect(try await request(
                a, "POST", "/v1/locks/doc:release", body: try handleBody(second, #", "mode": "read""#), token: "t").status == 200)
            let writer = try await writing
            #expect(writer.status == 200, "\(writer.body)")
            #expect(writer.json["mode"] == .string("write"))
            #expect(try #require(writer.json["token"]?.int) > (second.json["token"]?.int ?? .max))
            #expect(try await request(a, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "read"}"#, token: "t").status == 409)
            #expect(try await request(
                a, "POST", "/v1/locks/doc:release", body: try handleBody(writer, #", "mode": "write""#), token: "t").status == 200)
        }
    }

    @Test("a semaphore of 2 admits two holders and queues a third; another permit count is 409 permits_mismatch")
    func semaphore() async throws {
        try await withNamespace(1) { ports in
            let port = ports[0]
            let one = try await request(port, "POST", "/v1/locks/slots:acquire", body: #"{"permits": 2, "owner": "one"}"#, token: "t")
            let two = try await request(port, "POST", "/v1/locks/slots:acquire", body: #"{"permits": 2, "owner": "two"}"#, token: "t")
            #expect(one.status == 200, "\(one.body)")
            #expect(two.status == 200, "\(two.body)")
            #expect(one.json["mode"] == .string("permit"))
            #expect(one.json["permits"] == .number(2))
            #expect(try await request(port, "POST", "/v1/locks/slots:acquire", body: #"{"permits": 2}"#, token: "t").status == 409)
            let mismatch = try await request(port, "POST", "/v1/locks/slots:acquire", body: #"{"permits": 3}"#, token: "t")
            #expect(mismatch.status == 409)
            #expect(mismatch.json["error"]?["code"] == .string("permits_mismatch"), "\(mismatch.body)")

            async let third = request(
                port, "POST", "/v1/locks/slots:acquire", body: #"{"permits": 2, "wait_seconds": 20, "owner": "three"}"#, token: "t")
            #expect(try await eventually(within: .seconds(20)) {
                try await request(port, "GET", "/v1/locks/slots?kind=semaphore", token: "t").json["waiters"]?.array.count == 1
            })
            let inspected = try await request(port, "GET", "/v1/locks/slots?kind=semaphore", token: "t")
            #expect(inspected.json["permits"] == .number(2))
            #expect(inspected.json["holders"]?.array.count == 2)
            let permit = #", "permits": 2"#
            let wrongCount = try await request(port, "POST", "/v1/locks/slots:renew", body: try handleBody(one, #", "permits": 3"#), token: "t")
            #expect(wrongCount.status == 409 && wrongCount.json["error"]?["code"] == .string("permits_mismatch"), "\(wrongCount.body)")
            #expect(try await request(port, "POST", "/v1/locks/slots:renew", body: try handleBody(one, permit), token: "t").status == 200)
            #expect(try await request(port, "POST", "/v1/locks/slots:release", body: try handleBody(one, permit), token: "t").status == 200)
            let admitted = try await third
            #expect(admitted.status == 200, "\(admitted.body)")
            for answer in [two, admitted] {
                #expect(try await request(port, "POST", "/v1/locks/slots:release", body: try handleBody(answer, permit), token: "t").status == 200)
            }
        }
    }

    @Test("an entry of another permit count ahead (refused, not yet withdrawn) is waited out: holders of two counts never hold together")
    func mixedCountsNeverHoldTogether() async throws {
        let namespace = "modes-\(Int.random(in: 0..<1_000_000_000))"
        try await withReplicas(1, tokens: AccessTokens(grants: ["t": .init(namespace: namespace, role: .client)])) { replicas in
            let port = replicas[0].port
            let first = try await request(port, "POST", "/v1/locks/mixed:acquire", body: #"{"permits": 1, "owner": "one"}"#, token: "t")
            #expect(first.status == 200, "\(first.body)")
            // What a refused 3-permit caller leaves for a round trip, until its withdrawal lands.
            try await TestEnvironment.withClient { client in
                let lease = try await client.grantLease(ttlSeconds: 30)
                let ghost = try LockInspection.semaphorePrefix("mixed", namespace: namespace).appending("ghost-0")
                let record = QueueEntryRecord(queuedAt: Date(), permits: 3, owner: "refused")
                _ = try await client.put(ghost, value: record.bytes, lease: lease.id)
                async let waiting = request(
                    port, "POST", "/v1/locks/mixed:acquire", body: #"{"permits": 1, "wait_seconds": 20, "owner": "next-one"}"#, token: "t")
                #expect(try await eventually(within: .seconds(10)) {
                    try await request(port, "GET", "/v1/locks/mixed?kind=semaphore", token: "t").json["waiters"]?.array.count == 2
                })
                #expect(try await request(port, "POST", "/v1/locks/mixed:release", body: try handleBody(first, #", "permits": 1"#), token: "t").status == 200)
                // The ghost is the head now: a 3-permit caller passes the head check, but a 1-permit
                // entry is ahead of it and it must not hold beside that one.
                let three = try await request(
                    port, "POST", "/v1/locks/mixed:acquire", body: #"{"permits": 3, "wait_seconds": 1, "owner": "three"}"#, token: "t")
                #expect(three.status == 409, "a 3-permit caller was admitted beside a 1-permit entry: \(three.body)")
                try await client.revokeLease(lease.id)
                let next = try await waiting
                #expect(next.status == 200, "\(next.body)")
                #expect(try await request(port, "POST", "/v1/locks/mixed:release", body: try handleBody(next, #", "permits": 1"#), token: "t").status == 200)
                if three.status == 200 {
                    _ = try await request(port, "POST", "/v1/locks/mixed:release", body: try handleBody(three, #", "permits": 3"#), token: "t")
                }
            }
        }
        #expect(try await keyCount(namespace) == 0)
    }

    @Test("list and force-release cover read/write locks and semaphores; several holders need a token")
    func listAndForceReleaseKinds() async throws {
        let namespace = "modes-\(Int.random(in: 0..<1_000_000_000))"
        let grants: [String: AccessTokens.Grant] = ["t": .init(namespace: namespace, role: .client), "a": .init(namespace: namespace, role: .admin)]
        try await withReplicas(1, tokens: AccessTokens(grants: grants)) { replicas in
            let port = replicas[0].port
            let readers = [
                try await request(port, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "read", "owner": "r1"}"#, token: "t"),
                try await request(port, "POST", "/v1/locks/doc:acquire", body: #"{"mode": "read", "owner": "r2"}"#, token: "t"),
            ]
            let permit = try await request(port, "POST", "/v1/locks/slots:acquire", body: #"{"permits": 3, "owner": "p1"}"#, token: "t")
            #expect(readers.allSatisfy { $0.status == 200 } && permit.status == 200)

            let rwlocks = try await request(port, "GET", "/v1/locks?kind=rwlock", token: "t")
            #expect(rwlocks.json["kind"] == .string("rwlock"))
            let listed = try #require(rwlocks.json["locks"]?.array.first, "\(rwlocks.body)")
            #expect(listed["name"] == .string("doc"))
            #expect(listed["holders"] == .number(2))
            #expect(listed["waiting"] == .number(0))
            #expect(listed["holder"]?["held_for_seconds"]?.double != nil)
            #expect(listed["holder"]?["mode"] == .string("read"))
            #expect(listed["holder"]?["lease_ttl_seconds"] == nil, "a list does not read leases: no TTL rather than a null one")
            #expect(try await request(port, "GET", "/v1/locks?kind=rwlock&kind=semaphore", token: "t").status == 400)
            let semaphores = try await request(port, "GET", "/v1/locks?prefix=sl&kind=semaphore", token: "t")
            #expect(semaphores.json["locks"]?.array.map { $0["name"] } == [.string("slots")], "\(semaphores.body)")
            #expect(try await request(port, "GET", "/v1/locks", token: "t").json["locks"]?.array.isEmpty == true, "no mutex is held")
            #expect(try await request(port, "GET", "/v1/locks?kind=queue", token: "t").status == 400)

            // Two readers hold together: which one to remove must be said.
            let ambiguous = try await request(port, "POST", "/v1/locks/doc:force-release", body: #"{"kind": "rwlock"}"#, token: "a")
            #expect(ambiguous.status == 409)
            #expect(ambiguous.json["error"]?["code"] == .string("token_required"), "\(ambiguous.body)")
            #expect(ambiguous.json["holders"]?.array.count == 2)
            let secondToken = try #require(readers[1].json["token"]?.int)
            let removed = try await request(
                port, "POST", "/v1/locks/doc:force-release", body: #"{"kind": "rwlock", "token": \#(secondToken)}"#, token: "a")
            #expect(removed.status == 200, "\(removed.body)")
            #expect(removed.json["released"]?["owner"] == .string("r2"))
            #expect(removed.json["released"]?["mode"] == .string("read"))
            #expect(try await request(
                port, "POST", "/v1/locks/doc:renew", body: try handleBody(readers[1], #", "mode": "read""#), token: "t").status == 410)
            // The lone holder left goes without a token; so does a semaphore's.
            let lone = try await request(port, "POST", "/v1/locks/doc:force-release", body: #"{"kind": "rwlock"}"#, token: "a")
            #expect(lone.json["released"]?["owner"] == .string("r1"), "\(lone.body)")
            let slots = try await request(port, "POST", "/v1/locks/slots:force-release", body: #"{"kind": "semaphore"}"#, token: "a")
            #expect(slots.json["released"]?["owner"] == .string("p1"), "\(slots.body)")
            #expect(slots.json["released"]?["permits"] == .number(3), "\(slots.body)")
            #expect(try await request(port, "POST", "/v1/locks/slots:force-release", body: #"{"kind": "semaphore"}"#, token: "a").json["released"] == .null)
            #expect(try await request(port, "POST", "/v1/locks/doc:force-release", body: #"{"kind": "rw"}"#, token: "a").status == 400)
            #expect(try await request(port, "GET", "/v1/locks?kind=rwlock", token: "t").json["locks"]?.array.isEmpty == true)
        }
        // Force-release leaves leases alone: the holders' keys are gone, their leases expire.
        #expect(try await keyCount(namespace) == 0)
    }

    @Test("bad mode and permit combinations get typed 400s and change nothing in etcd")
    func badCombinations() async throws {
        try await withNamespace(1) { ports in
            let port = ports[0]
            let cases: [(String, String, String)] = [
                (":acquire", #"{"mode": "shared"}"#, "invalid_argument"),
                (":acquire", #"{"mode": "read", "permits": 2}"#, "invalid_argument"),
                (":acquire", #"{"mode": "exclusive", "permits": 2}"#, "invalid_argument"),
                (":acquire", #"{"permits": 0}"#, "invalid_argument"),
                (":acquire", #"{"permits": 10001}"#, "invalid_argument"),
                (":acquire", #"{"permits": "2"}"#, "bad_request"),
                (":acquire", #"{"mode": 1}"#, "bad_request"),
                (":renew", #"{"token": 5, "lease": 7, "mode": "both"}"#, "invalid_argument"),
                (":release", #"{"token": 5, "lease": 7, "permits": -1}"#, "invalid_argument"),
            ]
            for (action, body, code) in cases {
                let answer = try await request(port, "POST", "/v1/locks/combo\(action)", body: body, token: "t")
                #expect(answer.status == 400, "\(body): \(answer.body)")
                #expect(answer.json["error"]?["code"] == .string(code), "\(body): \(answer.body)")
            }
            let kind = try await request(port, "GET", "/v1/locks/combo?kind=queue", token: "t")
            #expect(kind.status == 400)
            #expect(kind.json["error"]?["code"] == .string("invalid_argument"))
        }
    }
}
