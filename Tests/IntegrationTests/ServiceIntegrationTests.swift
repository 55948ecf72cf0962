import Etcd
import EtcdLock
import EtcdLockService
import EtcdTestSupport
import Foundation
import Testing

/// A namespace and client/admin tokens of its own, for one test.
private struct Tenant {
    let namespace = "svc-\(Int.random(in: 0..<1_000_000_000))"
    let client = "client-\(UUID().uuidString)"
    let admin = "admin-\(UUID().uuidString)"

    var grants: [String: AccessTokens.Grant] {
        [client: .init(namespace: namespace, role: .client), admin: .init(namespace: namespace, role: .admin)]
    }
}

@Suite("the HTTP lock service against a real etcd", .timeLimit(.minutes(2)))
struct ServiceIntegrationTests {
    @Test("acquire, renew, inspect and release over HTTP; tokens strictly increase; the lease round-trips as a JSON number")
    func roundTrip() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            var last: Int64 = 0
            for round in 0..<3 {
                let acquired = try await request(
                    port, "POST", "/v1/locks/orders:acquire", body: #"{"ttl_seconds": 5, "wait_seconds": 0, "owner": "round \#(round)"}"#,
                    token: tenant.client)
                #expect(acquired.status == 200, "\(acquired.body)")
                let token = try #require(acquired.json["token"]?.int)
                let lease = try #require(acquired.json["lease"]?.int)
                #expect(token > last)
                last = token
                #expect(acquired.json["ttl_seconds"] == .number(5))
                #expect(acquired.json["owner"] == .string("round \(round)"))
                // The lease as a number is exact: it names the key etcd holds.
                #expect(acquired.json["key"]?.text?.hasSuffix(LeaseID(lease).hexString) == true)

                let inspected = try await request(port, "GET", "/v1/locks/orders", token: tenant.client)
                #expect(inspected.status == 200)
                #expect(inspected.json["holder"]?["token"]?.int == token)
                #expect(inspected.json["holder"]?["owner"] == .string("round \(round)"))
                #expect(inspected.json["waiters"] == .array([]))

                let handle = #"{"token": \#(token), "lease": \#(lease)}"#
                let renewed = try await request(port, "POST", "/v1/locks/orders:renew", body: handle, token: tenant.client)
                #expect(renewed.status == 200)
                #expect(renewed.json["ttl_seconds"] == .number(5))
                let listed = try await request(port, "GET", "/v1/locks?prefix=ord", token: tenant.client)
                #expect(listed.json["locks"]?.array.first?["name"] == .string("orders"))

                let released = try await request(port, "POST", "/v1/locks/orders:release", body: handle, token: tenant.client)
                #expect(released.status == 200)
                let again = try await request(port, "POST", "/v1/locks/orders:release", body: handle, token: tenant.client)
                #expect(again.status == 410)
                #expect(again.json["error"]?["code"] == .string("lost"))
                let renewAfter = try await request(port, "POST", "/v1/locks/orders:renew", body: handle, token: tenant.client)
                #expect(renewAfter.status == 410)
            }
            #expect(try await keyCount(tenant.namespace) == 0)
            let metrics = try await request(port, "GET", "/metrics")
            #expect(metrics.body.contains(#"etcdlock_service_acquisitions_total{result="acquired"} 3"#))
            #expect(metrics.body.contains(#"etcdlock_service_http_requests_total{route="release",status="410"} 3"#))
            #expect(try await request(port, "GET", "/healthz").status == 200)
        }
    }

    @Test("/metrics counts the replica's etcd requests, and requests that failed on etcd by the error's code")
    func etcdMetrics() async throws {
        // A replica whose etcd is unreachable (nothing listens on port 1): every call fails typed.
        let configuration = EtcdClient.Configuration(endpoints: ["http://127.0.0.1:1"], requestTimeout: .seconds(2))
        try await EtcdClient.withClient(configuration) { client in
            let service = LockService(client: client, configuration: LockService.Configuration())
            let server = try HTTPServer(HTTPServer.Configuration(host: "127.0.0.1", port: 0), handler: service.handle)
            let answer = try await request(server.port, "POST", "/v1/locks/m:acquire", body: #"{"ttl_seconds": 5}"#)
            let metrics = try await request(server.port, "GET", "/metrics")
            await server.shutdown()
            #expect(answer.status == 503, "\(answer.body)")
            #expect(metrics.body.contains(#"etcdlock_service_etcd_errors_total{code="unavailable"} 1"#), "\(metrics.body)")
            let sent = metrics.body.split(separator: "\n").first { $0.hasPrefix("etcdlock_service_etcd_requests_total ") }
            #expect(sent.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0 >= 1, "\(metrics.body)")
        }
    }

    @Test("nobody but the acquirer learns a holder's or a waiter's lease: 409 answers, inspections and lists show neither it nor the key named after it")
    func leaseStaysSecret() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            let acquired = try await request(
                port, "POST", "/v1/locks/secret:acquire", body: #"{"ttl_seconds": 30, "owner": "holder"}"#, token: tenant.client)
            let lease = try #require(acquired.json["lease"]?.int)
            // A waiter too: its key, also named after its lease, is in the queue.
            let waiter = try TestConnection(port: port)
            let body = #"{"ttl_seconds": 30, "wait_seconds": 30, "owner": "waiter"}"#
            waiter.send(Array(
                ("POST /v1/locks/secret:acquire HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(tenant.client)\r\n"
                    + "Content-Length: \(body.utf8.count)\r\n\r\n" + body).utf8))
            #expect(try await eventually(within: .seconds(20)) {
                try await request(port, "GET", "/v1/locks/secret", token: tenant.client).json["waiters"]?.array.count == 1
            })
            let views = [
                try await request(port, "POST", "/v1/locks/secret:acquire", body: #"{"ttl_seconds": 5}"#, token: tenant.client),
                try await request(port, "GET", "/v1/locks/secret", token: tenant.client),
                try await request(port, "GET", "/v1/locks?prefix=sec", token: tenant.client),
            ]
            #expect(views[0].status == 409)
            #expect(views[1].json["holder"]?["token"] == acquired.json["token"])
            for view in views {
                #expect(!view.body.contains(String(lease)) && !view.body.lowercased().contains(LeaseID(lease).hexString.lowercased()), "\(view.body)")
                #expect(!view.body.contains("/etcdlock/"), "a key name: \(view.body)")
            }
            _ = try await request(
                port, "POST", "/v1/locks/secret:release", body: #"{"token": \#(acquired.json["token"]?.int ?? 0), "lease": \#(lease)}"#,
                token: tenant.client)
            #expect(waiter.readResponse()?.status == 200)
        }
    }

    @Test("a holder that stops renewing loses the lock within its TTL, and its next renew is 410")
    func expiry() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            let acquired = try await request(
                port, "POST", "/v1/locks/job:acquire", body: #"{"ttl_seconds": 4}"#, token: tenant.client)
            let token = try #require(acquired.json["token"]?.int)
            let lease = try #require(acquired.json["lease"]?.int)
            let (freed, took) = try await measure {
                try await eventually(within: .seconds(12), every: .milliseconds(100)) {
                    try await request(port, "GET", "/v1/locks/job", token: tenant.client).json["holder"] == .null
                }
            }
            #expect(freed)
            // The TTL is 4 s; nobody renewed it (room for a loaded machine on top).
            #expect(took < .seconds(8))
            let renewed = try await request(
                port, "POST", "/v1/locks/job:renew", body: #"{"token": \#(token), "lease": \#(lease)}"#, token: tenant.client)
            #expect(renewed.status == 410)
            let metrics = try await request(port, "GET", "/metrics")
            #expect(metrics.body.contains(#"etcdlock_service_renewals_total{result="lost"} 1"#))
        }
    }

    @Test("two replicas: acquire on A, renew and release on B; a long-poll on B gets the lock released on A")
    func twoReplicas() async throws {
        let tenant = Tenant()
        try await withReplicas(2, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let (a, b) = (replicas[0].port, replicas[1].port)
            let first = try await request(a, "POST", "/v1/locks/shared:acquire", body: #"{"ttl_seconds": 5}"#, token: tenant.client)
            let token = try #require(first.json["token"]?.int)
            let lease = try #require(first.json["lease"]?.int)
            let handle = #"{"token": \#(token), "lease": \#(lease)}"#
            #expect(try await request(b, "POST", "/v1/locks/shared:renew", body: handle, token: tenant.client).status == 200)
            #expect(try await request(b, "POST", "/v1/locks/shared:release", body: handle, token: tenant.client).status == 200)

            let second = try await request(a, "POST", "/v1/locks/shared:acquire", body: #"{"ttl_seconds": 5}"#, token: tenant.client)
            let secondToken = try #require(second.json["token"]?.int)
            let secondLease = try #require(second.json["lease"]?.int)
            async let waiting = request(
                b, "POST", "/v1/locks/shared:acquire", body: #"{"ttl_seconds": 5, "wait_seconds": 20, "owner": "waiter"}"#,
                token: tenant.client)
            #expect(try await eventually(within: .seconds(5)) {
                try await request(a, "GET", "/v1/locks/shared", token: tenant.client).json["waiters"]?.array.count == 1
            })
            let released = try await request(
                a, "POST", "/v1/locks/shared:release", body: #"{"token": \#(secondToken), "lease": \#(secondLease)}"#,
                token: tenant.client)
            #expect(released.status == 200)
            let third = try await waiting
            #expect(third.status == 200)
            let thirdToken = try #require(third.json["token"]?.int)
            #expect(thirdToken > secondToken)
            let thirdLease = try #require(third.json["lease"]?.int)
            #expect(try await request(
                a, "POST", "/v1/locks/shared:release", body: #"{"token": \#(thirdToken), "lease": \#(thirdLease)}"#,
                token: tenant.client).status == 200)
            #expect(try await keyCount(tenant.namespace) == 0)
        }
    }

    @Test("a caller that disconnects mid-wait leaves no key, and its lease is revoked")
    func disconnectWithdraws() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            let holder = try await request(port, "POST", "/v1/locks/busy:acquire", body: #"{"ttl_seconds": 10}"#, token: tenant.client)
            let token = try #require(holder.json["token"]?.int)
            let lease = try #require(holder.json["lease"]?.int)
            let connection = try TestConnection(port: port)
            let body = #"{"ttl_seconds": 10, "wait_seconds": 60}"#
            connection.send(Array(
                "POST /v1/locks/busy:acquire HTTP/1.1\r\nAuthorization: Bearer \(tenant.client)\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)".utf8))
            var waiterLease: Int64?
            #expect(try await eventually(within: .seconds(5)) {
                // The service never shows a lease but to its acquirer: read the waiter's from etcd.
                let queue = try await TestEnvironment.withClient { client in
                    try await client.range(RangeRequest(
                        .prefix(try LockInspection.prefix("busy", namespace: tenant.namespace)), sort: .init(.createRevision, .ascending)))
                }
                waiterLease = queue.keyValues.dropFirst().first?.lease?.rawValue
                return waiterLease != nil
            })
            connection.abort()
            #expect(try await eventually(within: .seconds(5)) {
                try await request(port, "GET", "/v1/locks/busy", token: tenant.client).json["waiters"]?.array.isEmpty == true
            })
            // The key goes first, the lease's revocation follows it.
            let waiterLeaseID = LeaseID(try #require(waiterLease))
            let gone = try await eventually(within: .seconds(5)) {
                try await TestEnvironment.withClient { client in try await client.timeToLive(waiterLeaseID).isExpired }
            }
            #expect(gone)
            let metrics = try await request(port, "GET", "/metrics")
            #expect(metrics.body.contains(#"etcdlock_service_acquisitions_total{result="cancelled"} 1"#))
            #expect(try await request(
                port, "POST", "/v1/locks/busy:release", body: #"{"token": \#(token), "lease": \#(lease)}"#, token: tenant.client).status == 200)
            #expect(try await keyCount(tenant.namespace) == 0)
        }
    }

    @Test("the lease is the holder's secret: 409 answers and inspections show the token only, leases are far apart, a guess is 410")
    func leaseIsSecret() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            let holder = try await request(port, "POST", "/v1/locks/secret:acquire", body: #"{"ttl_seconds": 10}"#, token: tenant.client)
            let token = try #require(holder.json["token"]?.int)
            let lease = try #require(holder.json["lease"]?.int)
            let refused = try await request(port, "POST", "/v1/locks/secret:acquire", body: #"{"ttl_seconds": 10}"#, token: tenant.client)
            #expect(refused.status == 409)
            #expect(refused.json["holder"]?["token"]?.int == token)
            #expect(refused.json["holder"]?["lease"] == nil, "a 409 answer leaked the holder's lease")
            let inspected = try await request(port, "GET", "/v1/locks/secret", token: tenant.client)
            #expect(inspected.json["holder"]?["token"]?.int == token)
            #expect(inspected.json["holder"]?["lease"] == nil, "an inspection leaked the holder's lease")
            #expect(!inspected.body.contains(String(lease)))
            // Another acquisition's lease says nothing about this one's.
            let other = try await request(port, "POST", "/v1/locks/other:acquire", body: #"{"ttl_seconds": 10}"#, token: tenant.client)
            let otherLease = try #require(other.json["lease"]?.int)
            #expect(otherLease.distance(to: lease).magnitude > 1 << 32, "leases \(lease) and \(otherLease) are close")
            for guess in [otherLease + 1, otherLease - 1, lease + 1] {
                let attempt = try await request(
                    port, "POST", "/v1/locks/secret:release", body: #"{"token": \#(token), "lease": \#(guess)}"#, token: tenant.client)
                #expect(attempt.status == 410)
            }
            #expect(try await request(
                port, "POST", "/v1/locks/secret:release", body: #"{"token": \#(token), "lease": \#(lease)}"#, token: tenant.client).status == 200)
            #expect(try await request(
                port, "POST", "/v1/locks/other:release",
                body: #"{"token": \#(try #require(other.json["token"]?.int)), "lease": \#(otherLease)}"#, token: tenant.client).status == 200)
        }
    }

    @Test("the bearer scheme is case-insensitive; a tokens file naming an impossible namespace is refused when read")
    func bearerSchemeAndTokensFile() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            for scheme in ["bearer", "BEARER", "Bearer"] {
                let answer = try await onThread { () -> HTTPAnswer? in
                    let connection = try TestConnection(port: port)
                    connection.send(Array("GET /v1/locks/case HTTP/1.1\r\nAuthorization: \(scheme) \(tenant.client)\r\n\r\n".utf8))
                    return connection.readResponse()
                }
                #expect(answer?.status == 200, "scheme \(scheme)")
            }
        }
        let tooLong = String(repeating: "n", count: 600)
        #expect(throws: AccessTokens.Invalid.self) { try AccessTokens(parsing: "t1 \(tooLong) client\n") }
        #expect(throws: AccessTokens.Invalid.self) { try AccessTokens(parsing: "t1 tab\u{7}name client\n") }
        #expect(try AccessTokens(parsing: "t1 team-a client\nt2 team-b admin # comment\n").grants.count == 2)
    }

    @Test("force-release is for admins only and honours the token; namespaces keep two tenants' locks apart")
    func forceReleaseAndNamespaces() async throws {
        let (tenant, other) = (Tenant(), Tenant())
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants.merging(other.grants) { first, _ in first })) { replicas in
            let port = replicas[0].port
            let mine = try await request(port, "POST", "/v1/locks/payments:acquire", body: #"{"owner": "team a"}"#, token: tenant.client)
            let theirs = try await request(port, "POST", "/v1/locks/payments:acquire", body: #"{"owner": "team b"}"#, token: other.client)
            #expect(mine.status == 200)
            #expect(theirs.status == 200, "the same name in another namespace is another lock")
            #expect(try await request(port, "GET", "/v1/locks/payments", token: other.client).json["holder"]?["owner"] == .string("team b"))
            #expect(try await request(port, "GET", "/v1/locks", token: other.client).json["locks"]?.array.count == 1)
            let token = try #require(mine.json["token"]?.int)
            let lease = try #require(mine.json["lease"]?.int)
            // Another tenant cannot renew or release it, even with the right numbers.
            let handle = #"{"token": \#(token), "lease": \#(lease)}"#
            #expect(try await request(port, "POST", "/v1/locks/payments:release", body: handle, token: other.client).status == 410)

            let refused = try await request(port, "POST", "/v1/locks/payments:force-release", body: "{}", token: tenant.client)
            #expect(refused.status == 403)
            #expect(refused.json["error"]?["code"] == .string("forbidden"))
            let unauthenticated = try await request(port, "POST", "/v1/locks/payments:force-release", body: "{}")
            #expect(unauthenticated.status == 401)
            let wrongToken = try await request(
                port, "POST", "/v1/locks/payments:force-release", body: #"{"token": \#(token + 1000)}"#, token: tenant.admin)
            #expect(wrongToken.status == 409)
            #expect(wrongToken.json["error"]?["code"] == .string("not_holder"))
            #expect(try await request(port, "POST", "/v1/locks/payments:renew", body: handle, token: tenant.client).status == 200)

            let forced = try await request(
                port, "POST", "/v1/locks/payments:force-release", body: #"{"token": \#(token)}"#, token: tenant.admin)
            #expect(forced.status == 200)
            #expect(forced.json["released"]?["token"]?.int == token)
            #expect(try await request(port, "POST", "/v1/locks/payments:renew", body: handle, token: tenant.client).status == 410)
            #expect(try await request(port, "GET", "/v1/locks/payments", token: other.client).json["holder"]?["owner"] == .string("team b"))
            let theirHandle = #"{"token": \#(try #require(theirs.json["token"]?.int)), "lease": \#(try #require(theirs.json["lease"]?.int))}"#
            #expect(try await request(port, "POST", "/v1/locks/payments:release", body: theirHandle, token: other.client).status == 200)
        }
    }

    @Test("every bad input gets its JSON error and changes nothing in etcd")
    func badInput() async throws {
        let tenant = Tenant()
        try await withReplicas(1, tokens: AccessTokens(grants: tenant.grants)) { replicas in
            let port = replicas[0].port
            let huge = String(repeating: "x", count: 200_000)
            let cases: [(String, String, String?, String?, Int, String)] = [
                ("POST", "/v1/locks/a:acquire", "{not json", tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", "[1, 2]", tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": "10"}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 10.5}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"wait_seconds": true}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 10, "tll": 1}"#, tenant.client, 400, "unknown_field"),
                // JSON to the letter: numbers by the grammar, strings of UTF-8 without raw controls or lone surrogates.
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 010}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": +10}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 1e1}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 99999999999999999999}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"wait_seconds": 1.}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", "{\"owner\": \"a\tb\"}", tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"owner": "\ud800"}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"owner": "x"} {}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 10,}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 5, "ttl\u005fseconds": 6}"#, tenant.client, 400, "invalid_argument"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": -5}"#, tenant.client, 400, "invalid_argument"),
                ("POST", "/v1/locks/a:acquire", #"{"ttl_seconds": 0}"#, tenant.client, 400, "invalid_argument"),
                ("POST", "/v1/locks/a:acquire", #"{"wait_seconds": -1}"#, tenant.client, 400, "invalid_argument"),
                ("POST", "/v1/locks/a:acquire", #"{"owner": "\#(huge.prefix(300))"}"#, tenant.client, 400, "invalid_argument"),
                ("POST", "/v1/locks/a:acquire", #"{"owner": "\#(huge)"}"#, tenant.client, 413, "body_too_large"),
                ("POST", "/v1/locks/%01bad:acquire", "{}", tenant.client, 400, "invalid_name"),
                ("POST", "/v1/locks/%FF:acquire", "{}", tenant.client, 400, "invalid_name"),
                ("POST", "/v1/locks/\(String(repeating: "n", count: 600)):acquire", "{}", tenant.client, 400, "invalid_name"),
                ("POST", "/v1/locks/a:acquire", "{}", nil, 401, "unauthenticated"),
                ("POST", "/v1/locks/a:acquire", "{}", "not-a-token", 401, "unauthenticated"),
                ("POST", "/v1/locks/a:renew", #"{"lease": 5}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:renew", #"{"token": "5", "lease": 5}"#, tenant.client, 400, "bad_request"),
                ("POST", "/v1/locks/a:release", #"{"token": -5, "lease": 5}"#, tenant.client, 400, "invalid_argument"),
                ("POST", "/v1/locks/a:release", #"{"token": 5, "lease": 5}"#, tenant.client, 410, "lost"),
                ("POST", "/v1/locks/a:explode", "{}", tenant.client, 404, "not_found"),
                ("GET", "/v1/locks/a:acquire", nil, tenant.client, 405, "method_not_allowed"),
                ("DELETE", "/v1/locks/a", nil, tenant.client, 405, "method_not_allowed"),
                ("GET", "/v1/locks?owner=x", nil, tenant.client, 400, "bad_request"),
                ("GET", "/elsewhere", nil, tenant.client, 404, "not_found"),
            ]
            for (method, path, body, token, status, code) in cases {
                let answer = try await request(port, method, path, body: body, token: token)
                #expect(answer.status == status, "\(method) \(path) \(body?.prefix(60) ?? ""): \(answer.body.prefix(200))")
                #expect(answer.json["error"]?["code"] == .string(code), "\(method) \(path): \(answer.body.prefix(200))")
            }
            #expect(try await keyCount(tenant.namespace) == 0)
        }
    }

    @Test("a client that trickles its request byte by byte is answered 408 and dropped at the request deadline")
    func slowClient() async throws {
        try await withReplicas(1, requestTimeout: .milliseconds(500)) { replicas in
            let port = replicas[0].port
            let (answer, took) = try await measure {
                try await onThread { () -> HTTPAnswer? in
                    let connection = try TestConnection(port: port)
                    let request = Array("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: \(String(repeating: "p", count: 100))\r\n\r\n".utf8)
                    for byte in request {
                        connection.send([byte])
                        // Trickling is the behaviour under test: one byte every 20 ms, far slower than
                        // the 500 ms the whole request may take.
                        usleep(20_000)
                        if connection.isReadable() { break }
                    }
                    let answer = connection.readResponse()
                    return connection.isClosedByPeer() ? answer : nil
                }
            }
            #expect(answer?.status == 408)
            #expect(answer?.body.contains("request_timeout") == true)
            #expect(took < .seconds(3))
        }
    }

    @Test("keep-alive: several requests on one connection; the server closes an idle one at shutdown")
    func keepAlive() async throws {
        try await withReplicas(1) { replicas in
            let port = replicas[0].port
            let statuses = try await onThread { () -> [Int] in
                let connection = try TestConnection(port: port)
                var statuses: [Int] = []
                for _ in 0..<3 {
                    // /metrics, which asks etcd nothing: this test is about the connection, and
                    // /healthz would answer 503 whenever a loaded etcd takes over 2 s.
                    connection.send(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                    statuses.append(connection.readResponse()?.status ?? 0)
                }
                return statuses
            }
            #expect(statuses == [200, 200, 200])
        }
    }
}

extension TestConnection {
    /// Whether bytes (or the end) can be read now, without blocking.
    func isReadable() -> Bool {
        var descriptors = [pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)]
        return poll(&descriptors, 1, 0) > 0
    }
}
