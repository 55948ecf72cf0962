import Etcd
import EtcdLock
import EtcdLockService
import EtcdTestSupport
import Foundation
import Testing

/// How long holders have held and waiters waited: from the times each queue key records.
@Suite("lock ages in inspections and the hold histogram, against a real etcd", .timeLimit(.minutes(1)))
struct LockAgesIntegrationTests {
    @Test("the service tells how long a holder has held and a waiter waited; a waiter admitted later has held for less than it queued")
    func serviceAges() async throws {
        try await withTenantReplica { port, token, namespace in
            let first = try await request(port, "POST", "/v1/locks/aged:acquire", body: #"{"ttl_seconds": 10, "owner": "first"}"#, token: token)
            let firstHandle = #"{"token": \#(try #require(first.json["token"]?.int)), "lease": \#(try #require(first.json["lease"]?.int))}"#
            let holder = try await request(port, "GET", "/v1/locks/aged", token: token).json["holder"]
            // Admitted as it joined an empty queue: both ages are the same reading.
            let held = try #require(holder?["held_for_seconds"]?.double)
            #expect(held >= 0)
            #expect(holder?["queued_for_seconds"]?.double == held)

            async let waiting = request(
                port, "POST", "/v1/locks/aged:acquire", body: #"{"ttl_seconds": 10, "wait_seconds": 20, "owner": "second"}"#, token: token)
            // The waiter's age grows while it waits (read again until it has waited a tenth of a second).
            #expect(try await eventually(within: .seconds(10)) {
                let waiter = try await request(port, "GET", "/v1/locks/aged", token: token).json["waiters"]?.array.first
                return (waiter?["waiting_for_seconds"]?.double ?? 0) >= 0.1
            })
            let holderNow = try await request(port, "GET", "/v1/locks/aged", token: token).json["holder"]
            #expect(try #require(holderNow?["held_for_seconds"]?.double) >= 0.1)

            let before = try await request(port, "GET", "/metrics").body
            #expect(try await request(port, "POST", "/v1/locks/aged:release", body: firstHandle, token: token).status == 200)
            let second = try await waiting
            #expect(second.status == 200)
            let secondHolder = try await request(port, "GET", "/v1/locks/aged", token: token).json["holder"]
            #expect(secondHolder?["owner"]?.text == "second")
            let secondHeld = try #require(secondHolder?["held_for_seconds"]?.double)
            let secondQueued = try #require(secondHolder?["queued_for_seconds"]?.double)
            #expect(secondQueued - secondHeld >= 0.1, "it queued for at least a tenth of a second before it was admitted")

            // The release through the service lands in the hold histogram, with the hold's length.
            let after = try await request(port, "GET", "/metrics").body
            #expect(Self.sample("etcdlock_hold_seconds_count", in: after) == Self.sample("etcdlock_hold_seconds_count", in: before) + 1)
            #expect(Self.sample("etcdlock_hold_seconds_sum", in: after) - Self.sample("etcdlock_hold_seconds_sum", in: before) >= 0.1)
            let secondHandle = #"{"token": \#(try #require(second.json["token"]?.int)), "lease": \#(try #require(second.json["lease"]?.int))}"#
            #expect(try await request(port, "POST", "/v1/locks/aged:release", body: secondHandle, token: token).status == 200)
        }
    }

    @Test("library holders: admitted at an empty queue, admission is recorded; after a wait a mutex's is not, a semaphore's is; a hand-written key has no ages")
    func libraryRecords() async throws {
        let namespace = "ages-\(Int.random(in: 0..<1_000_000_000))"
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client, ttl: .seconds(10), owner: "a") { first in
                try await EtcdSession.withSession(client, ttl: .seconds(10), owner: "b") { second in
                    let mutexA = try EtcdMutex("m", session: first, namespace: namespace)
                    let mutexB = try EtcdMutex("m", session: second, namespace: namespace)
                    let held = try await mutexA.lock()
                    let atOnce = try await LockAdmin.inspect("m", namespace: namespace, client: client)
                    #expect(atOnce.holder?.owner == "a")
                    #expect(atOnce.holder?.queuedAt != nil)
                    #expect(atOnce.holder?.admittedAt == atOnce.holder?.queuedAt)
                    async let later = mutexB.lock()
                    #expect(try await eventually(within: .seconds(5)) {
                        try await LockAdmin.inspect("m", namespace: namespace, client: client).waiters.first?.queuedAt != nil
                    })
                    try await mutexA.unlock(held)
                    let secondGuard = try await later
                    let afterWait = try await LockAdmin.inspect("m", namespace: namespace, client: client)
                    #expect(afterWait.holder?.owner == "b")
                    #expect(afterWait.holder?.queuedAt != nil)
                    #expect(afterWait.holder?.admittedAt == nil, "a library mutex admitted after waiting does not pay a write to record it")
                    try await mutexB.unlock(secondGuard)

                    let semaphoreA = try EtcdSemaphore("s", permits: 1, session: first, namespace: namespace)
                    let semaphoreB = try EtcdSemaphore("s", permits: 1, session: second, namespace: namespace)
                    let permit = try await semaphoreA.acquire()
                    async let laterPermit = semaphoreB.acquire()
                    #expect(try await eventually(within: .seconds(5)) {
                        let (queue, _) = try await LockAdmin.queue("s", namespace: namespace, kind: .semaphore, client: client)
                        return queue.waiters.count == 1
                    })
                    try await semaphoreA.release(permit)
                    let secondPermit = try await laterPermit
                    let (queue, _) = try await LockAdmin.queue("s", namespace: namespace, kind: .semaphore, client: client)
                    let permitHolder = try #require(queue.holders.first)
                    #expect(permitHolder.owner == "b")
                    #expect(permitHolder.permits == 1)
                    let queued = try #require(permitHolder.queuedAt)
                    let admitted = try #require(permitHolder.admittedAt, "a semaphore announces its admission, with its time")
                    #expect(admitted > queued)
                    try await semaphoreB.release(secondPermit)
                }
            }
            let written = try LockInspection.prefix("by-hand", namespace: namespace).appending("0")
            _ = try await client.put(written, value: Array("someone".utf8))
            let byHand = try await LockAdmin.inspect("by-hand", namespace: namespace, client: client)
            #expect(byHand.holder?.owner == "someone")
            #expect(byHand.holder?.queuedAt == nil)
            #expect(byHand.holder?.admittedAt == nil)
            _ = try await client.delete(.key(written))
        }
    }

    @Test("hostile records cannot crash or fool inspections: out-of-range times, owners that look like fields, stray keys in a list")
    func hostileRecords() async throws {
        try await withTenantReplica { port, token, namespace in
            try await TestEnvironment.withClient { client in
                // Written by hand, as anyone with etcd access could.
                let extreme = try LockInspection.prefix("extreme", namespace: namespace).appending("00000000000000aa")
                _ = try await client.put(extreme, value: Array("since=9223372036854775807;held=9223372036854775807;x".utf8))
                let negative = try LockInspection.prefix("negative", namespace: namespace).appending("00000000000000ab")
                _ = try await client.put(negative, value: Array("since=-9223372036854775000;held=;permits=;y".utf8))
                let stray = EtcdKey(bytes: Array("/etcdlock/\(namespace)/lock/odd".utf8) + [0xFF] + Array("/x".utf8))
                _ = try await client.put(stray, value: Array("z".utf8))
                let strayCase = EtcdKey("/etcdlock/\(namespace)/lock/a%2fb/x")
                _ = try await client.put(strayCase, value: Array("w".utf8))
                for name in ["extreme", "negative"] {
                    let inspected = try await request(port, "GET", "/v1/locks/\(name)", token: token)
                    #expect(inspected.status == 200, "\(inspected.body)")
                    #expect(inspected.json["holder"]?["held_for_seconds"] == .null)
                }
                let listed = try await request(port, "GET", "/v1/locks", token: token)
                #expect(listed.status == 200, "\(listed.body)")
                #expect(listed.json["locks"]?.array.compactMap { $0["name"]?.text } == ["extreme", "negative"], "\(listed.body)")
                for key in [extreme, negative, stray, strayCase] { _ = try await client.delete(.key(key)) }
            }
            // A Kelvin sign and a K are equal as Swift strings, but different names: two locks, listed apart.
            var kelvinHandles: [String] = []
            for path in ["%E2%84%AA", "K"] {
                let taken = try await request(port, "POST", "/v1/locks/\(path):acquire", body: #"{"owner": "\#(path)"}"#, token: token)
                #expect(taken.status == 200, "\(taken.body)")
                kelvinHandles.append(#"{"token": \#(try #require(taken.json["token"]?.int)), "lease": \#(try #require(taken.json["lease"]?.int))}"#)
            }
            let kelvins = try await request(port, "GET", "/v1/locks", token: token).json["locks"]?.array ?? []
            #expect(kelvins.compactMap { $0["holder"]?["owner"]?.text }.sorted() == ["%E2%84%AA", "K"], "\(kelvins)")
            for (path, handle) in zip(["%E2%84%AA", "K"], kelvinHandles) {
                #expect(try await request(port, "POST", "/v1/locks/\(path):release", body: handle, token: token).status == 200)
            }
            // An owner that looks like fields is shown as it was given, with the waiter's own age.
            let holder = try await request(port, "POST", "/v1/locks/spoof:acquire", body: #"{"owner": "first"}"#, token: token)
            async let waiting = request(
                port, "POST", "/v1/locks/spoof:acquire", body: #"{"wait_seconds": 20, "owner": "held=0;permits=5;bob"}"#, token: token)
            #expect(try await eventually(within: .seconds(10)) {
                try await request(port, "GET", "/v1/locks/spoof", token: token).json["waiters"]?.array.count == 1
            })
            let waiter = try await request(port, "GET", "/v1/locks/spoof", token: token).json["waiters"]?.array.first
            #expect(waiter?["owner"] == .string("held=0;permits=5;bob"))
            #expect(try #require(waiter?["waiting_for_seconds"]?.double) < 3600)
            let handle = #"{"token": \#(try #require(holder.json["token"]?.int)), "lease": \#(try #require(holder.json["lease"]?.int))}"#
            #expect(try await request(port, "POST", "/v1/locks/spoof:release", body: handle, token: token).status == 200)
            let second = try await waiting
            let admitted = try await request(port, "GET", "/v1/locks/spoof", token: token).json["holder"]
            #expect(admitted?["owner"] == .string("held=0;permits=5;bob"))
            #expect(try #require(admitted?["held_for_seconds"]?.double) < 3600)
            let secondHandle = #"{"token": \#(try #require(second.json["token"]?.int)), "lease": \#(try #require(second.json["lease"]?.int))}"#
            #expect(try await request(port, "POST", "/v1/locks/spoof:release", body: secondHandle, token: token).status == 200)
        }
    }

    /// Runs `body` with one replica serving a namespace of its own to a client token.
    private func withTenantReplica(_ body: @escaping @Sendable (_ port: Int, _ token: String, _ namespace: String) async throws -> Void) async throws {
        let namespace = "ages-\(Int.random(in: 0..<1_000_000_000))"
        let token = "client-\(UUID().uuidString)"
        try await withReplicas(1, tokens: AccessTokens(grants: [token: .init(namespace: namespace, role: .client)])) { replicas in
            try await body(replicas[0].port, token, namespace)
        }
    }

    /// The value of a sample without labels in Prometheus text (0 when absent).
    private static func sample(_ name: String, in text: String) -> Double {
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.dropFirst(name.count + 1)) ?? 0
        }
        return 0
    }
}
