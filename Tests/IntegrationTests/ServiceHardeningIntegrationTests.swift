import Etcd
import EtcdLock
import EtcdLockService
import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The keys queued on lock `name` of `namespace` (holder first), straight from etcd.
private func queue(_ name: String, namespace: String = "default") async throws -> [KeyValue] {
    try await TestEnvironment.withClient { client in
        try await client.range(RangeRequest(
            .prefix(try LockInspection.prefix(name, namespace: namespace)), sort: .init(.createRevision, .ascending))
        ).keyValues
    }
}

/// Sends `text` on `connection` as one request.
private func send(_ connection: TestConnection, _ text: String) { connection.send(Array(text.utf8)) }

/// An `:acquire` request for `name` (HTTP/1.1 unless `version` says otherwise).
private func acquireRequest(_ name: String, _ body: String, version: String = "HTTP/1.1") -> String {
    "POST /v1/locks/\(name):acquire \(version)\r\nHost: x\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
}

/// Attacks found on `etcdlock serve`; each test failed before its fix.
@Suite("the HTTP server resists hostile and unusual clients", .timeLimit(.minutes(2)))
struct ServiceHardeningIntegrationTests {
    @Test("at the connection limit, a new caller is served and the longest-idle keep-alive connection is closed")
    func idleConnectionsCannotExhaustTheLimit() async throws {
        try await withReplicas(1, server: {
            $0.maximumConnections = 3
            // Evictable as soon as idle (by default a connection must be silent for a second).
            $0.evictableAfter = .zero
        }) { replicas in
            let server = replicas[0].server
            #expect(try await eventually(within: .seconds(20)) { server.connectionCount == 0 })
            let statuses = try await onThread { () -> ([Int], Bool, Bool) in
                // Three keep-alive connections, each idle after one request: the limit.
                let idle = try (0..<3).map { _ in try TestConnection(port: replicas[0].port) }
                var statuses: [Int] = []
                for connection in idle {
                    send(connection, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    statuses.append(connection.readResponse()?.status ?? 0)
                }
                // The server counts a connection idle once it has written the answer and waits
                // again: wait (with a deadline) until all three do, or the oldest is not yet a
                // candidate on a loaded machine.
                let deadline = ContinuousClock.now + .seconds(20)
                while server.idleConnectionCount < 3, ContinuousClock.now < deadline { usleep(1000) }
                let newcomer = try TestConnection(port: replicas[0].port)
                send(newcomer, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                statuses.append(newcomer.readResponse()?.status ?? 0)
                // The oldest idle one made room; the most recent idle one is still open.
                let oldestClosed = idle[0].isClosedByPeer()
                send(idle[2], "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                let newestServed = idle[2].readResponse()?.status == 200
                return (statuses, oldestClosed, newestServed)
            }
            #expect(statuses.0 == [200, 200, 200, 200])
            #expect(statuses.1, "the longest-idle connection was not closed")
            #expect(statuses.2, "a connection idle for less time was closed")
        }
    }

    @Test("a connection with a request in flight is never evicted; when every connection is busy a newcomer gets 503 at once")
    func busyConnectionsAreNotEvicted() async throws {
        try await withReplicas(1, server: { $0.maximumConnections = 1 }) { replicas in
            let port = replicas[0].port
            let holder = try await request(port, "POST", "/v1/locks/busy-limit:acquire", body: #"{"ttl_seconds": 30}"#)
            let token = try #require(holder.json["token"]?.int)
            let lease = try #require(holder.json["lease"]?.int)
            #expect(try await eventually(within: .seconds(20)) { replicas[0].server.connectionCount == 0 })
            let waiter = try TestConnection(port: port)
            send(waiter, acquireRequest("busy-limit", #"{"ttl_seconds": 30, "wait_seconds": 60}"#))
            #expect(try await eventually(within: .seconds(20)) { try await queue("busy-limit").count == 2 })
            let (refused, took) = try await measure { try await request(port, "GET", "/metrics") }
            #expect(refused.status == 503)
            #expect(refused.json["error"]?["code"] == .string("overloaded"))
            // At once, not when a connection frees up (the waiter holds its own for 60 s); the
            // bound leaves room for a loaded machine.
            #expect(took < .seconds(10))
            #expect(try await queue("busy-limit").count == 2, "the waiting caller was disturbed")
            // Release the holder straight through etcd (a request would find no free connection).
            try await TestEnvironment.withClient { client in
                _ = try await LockHandle(name: "busy-limit", lease: LeaseID(lease), token: FencingToken(rawValue: token)).release(client: client)
            }
            let answer = try await onThread { waiter.readResponse() }
            #expect(answer?.status == 200)
            let handle = #"{"token": \#(try #require(answer?.json["token"]?.int)), "lease": \#(try #require(answer?.json["lease"]?.int))}"#
            send(waiter, "POST /v1/locks/busy-limit:release HTTP/1.1\r\nHost: x\r\nContent-Length: \(handle.utf8.count)\r\n\r\n\(handle)")
            #expect(try await onThread { waiter.readResponse() }?.status == 200)
        }
    }

    @Test("at the connection limit, a connection whose request has already arrived is answered, never evicted as idle")
    func arrivedRequestsAreNotEvicted() async throws {
        try await withReplicas(1, server: { $0.maximumConnections = 10 }) { replicas in
            let port = replicas[0].port
            let name = "burst-\(Int.random(in: 0..<1_000_000_000))"
            let holder = try await request(port, "POST", "/v1/locks/\(name):acquire", body: #"{"ttl_seconds": 30}"#)
            #expect(holder.status == 200)
            for _ in 0..<8 {
                // Bursts of more callers than the limit, each sending its whole request at once.
                let statuses = try await onThread { () -> [Int] in
                    let connections = try (0..<12).map { _ in try TestConnection(port: port) }
                    for connection in connections {
                        send(connection, acquireRequest(name, #"{"ttl_seconds": 5, "wait_seconds": 1}"#))
                    }
                    return connections.map { $0.readResponse()?.status ?? 0 }
                }
                // 409 (held) or 503 (every connection busy); 0 is a request dropped unanswered.
                #expect(statuses.allSatisfy { $0 == 409 || $0 == 503 }, "\(statuses)")
            }
            let handle = #"{"token": \#(holder.json["token"]?.int ?? 0), "lease": \#(holder.json["lease"]?.int ?? 0)}"#
            // The bursts' connections may still be closing on a loaded machine: the limit frees up soon.
            #expect(try await eventually(within: .seconds(20)) {
                try await request(port, "POST", "/v1/locks/\(name):release", body: handle).status == 200
            })
        }
    }

    @Test("a keep-alive connection idle past the idle timeout is closed by the server")
    func idleTimeoutClosesConnections() async throws {
        try await withReplicas(1, server: { $0.idleTimeout = .milliseconds(300) }) { replicas in
            let (closed, took) = try await measure {
                try await onThread { () -> Bool in
                    let connection = try TestConnection(port: replicas[0].port)
                    send(connection, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
                    guard connection.readResponse()?.status == 200 else { return false }
                    return connection.isClosedByPeer()
                }
            }
            #expect(closed)
            // The 300 ms idle timeout, not the default 30 s (with room for a loaded machine).
            #expect(took < .seconds(15))
        }
    }

    @Test("a caller that half-closes after a complete :acquire still gets its answer, from a try and from a long-poll")
    func halfCloseStillAnswers() async throws {
        try await withReplicas(1) { replicas in
            let port = replicas[0].port
            let tried = try await onThread { () -> HTTPAnswer? in
                let connection = try TestConnection(port: port)
                send(connection, acquireRequest("half", #"{"ttl_seconds": 30}"#))
                connection.halfClose()
                return connection.readResponse()
            }
            #expect(tried?.status == 200, "\(tried?.body ?? "no answer")")
            let token = try #require(tried?.json["token"]?.int)
            let lease = try #require(tried?.json["lease"]?.int)

            let waiter = try TestConnection(port: port)
            send(waiter, acquireRequest("half", #"{"ttl_seconds": 30, "wait_seconds": 60}"#))
            waiter.halfClose()
            #expect(try await eventually(within: .seconds(20)) { try await queue("half").count == 2 })
            let released = try await request(port, "POST", "/v1/locks/half:release", body: #"{"token": \#(token), "lease": \#(lease)}"#)
            #expect(released.status == 200)
            let answer = try await onThread { waiter.readResponse() }
            #expect(answer?.status == 200, "\(answer?.body ?? "no answer")")
            let second = #"{"token": \#(try #require(answer?.json["token"]?.int)), "lease": \#(try #require(answer?.json["lease"]?.int))}"#
            #expect(try await request(port, "POST", "/v1/locks/half:release", body: second).status == 200)
            #expect(try await queue("half").isEmpty)
        }
    }

    @Test("a lock acquired for a caller that is gone by the time the answer is written is released at once")
    func undeliveredAnswerReleases() async throws {
        try await withReplicas(1) { replicas in
            let port = replicas[0].port
            let holder = try await request(port, "POST", "/v1/locks/undelivered:acquire", body: #"{"ttl_seconds": 30}"#)
            let token = try #require(holder.json["token"]?.int)
            let lease = try #require(holder.json["lease"]?.int)
            // HTTP/1.0: the server cannot probe a half-closed 1.0 caller, so it keeps waiting for it;
            // the caller then goes away entirely before the lock is its.
            let waiter = try TestConnection(port: port)
            send(waiter, acquireRequest("undelivered", #"{"ttl_seconds": 30, "wait_seconds": 60}"#, version: "HTTP/1.0"))
            #expect(try await eventually(within: .seconds(20)) { try await queue("undelivered").count == 2 })
            waiter.abort()
            let released = try await request(
                port, "POST", "/v1/locks/undelivered:release", body: #"{"token": \#(token), "lease": \#(lease)}"#)
            #expect(released.status == 200)
            // Nobody holds the waiter's handle: its key must go long before its 30 s TTL.
            let (freed, took) = try await measure {
                try await eventually(within: .seconds(25)) { try await queue("undelivered").isEmpty }
            }
            #expect(freed)
            #expect(took < .seconds(25))
            let metrics = try await request(port, "GET", "/metrics")
            #expect(metrics.body.contains(#"etcdlock_service_acquisitions_total{result="undelivered"} 1"#))
        }
    }

    @Test("duplicate keys in a request body are refused with 400 invalid_argument and change nothing")
    func duplicateKeys() async throws {
        let name = "dup-\(UUID().uuidString)"
        try await withReplicas(1) { replicas in
            let port = replicas[0].port
            for body in [
                #"{"ttl_seconds": 5, "ttl_seconds": 3000}"#, #"{"owner": "a", "\u006fwner": "b"}"#,
                #"{"owner": "x\"", "wait_seconds": 0, "owner": "y"}"#,
            ] {
                let answer = try await request(port, "POST", "/v1/locks/\(name):acquire", body: body)
                #expect(answer.status == 400, "\(body): \(answer.body)")
                #expect(answer.json["error"]?["code"] == .string("invalid_argument"), "\(body)")
            }
            let renew = try await request(port, "POST", "/v1/locks/\(name):renew", body: #"{"token": 5, "lease": 7, "token": 6}"#)
            #expect(renew.json["error"]?["code"] == .string("invalid_argument"))
            // Equal values in different objects are not duplicates; nested keys are not the body's.
            let fine = try await request(port, "POST", "/v1/locks/\(name):acquire", body: #"{"owner": "ttl_seconds", "ttl_seconds": 5}"#)
            #expect(fine.status == 200)
            #expect(try await queue(name).count == 1)
            let handle = #"{"token": \#(try #require(fine.json["token"]?.int)), "lease": \#(try #require(fine.json["lease"]?.int))}"#
            // The bursts' connections may still be closing on a loaded machine: the limit frees up soon.
            #expect(try await eventually(within: .seconds(20)) {
                try await request(port, "POST", "/v1/locks/\(name):release", body: handle).status == 200
            })
        }
    }

    @Test("a request line or header ending in a bare LF is answered 400 at once, not 408 at the deadline")
    func bareLineFeeds() async throws {
        try await withReplicas(1, requestTimeout: .seconds(30)) { replicas in
            for text in [
                "GET /metrics HTTP/1.1\nHost: x\n\n", "GET /metrics HTTP/1.1\r\nHost: x\n\r\n", "GET /metrics HTTP/1.1\r\nHost: x\r\nX: a\nb\r\n\r\n",
                "GET /metrics HTTP/1.1\nHost: x",
            ] {
                let (answer, took) = try await measure {
                    try await onThread { () -> HTTPAnswer? in
                        let connection = try TestConnection(port: replicas[0].port)
                        send(connection, text)
                        return connection.readResponse()
                    }
                }
                #expect(answer?.status == 400, "\(text.debugDescription)")
                #expect(answer?.json["error"]?["code"] == .string("bad_request"))
                // At once, not at the 30 s request timeout (with room for a loaded machine).
                #expect(took < .seconds(10), "\(text.debugDescription) took \(took)")
            }
        }
    }

    @Test("a caller still sending its huge body is not reset: it sends it all, then reads the 413 and the connection closes")
    func tooLargeIsReadable() async throws {
        try await withReplicas(1) { replicas in
            for _ in 0..<3 {
                let (sentAll, answer, closed) = try await onThread { () -> (Bool, HTTPAnswer?, Bool) in
                    let connection = try TestConnection(port: replicas[0].port)
                    send(connection, "POST /v1/locks/big:acquire HTTP/1.1\r\nHost: x\r\nContent-Length: 3000000\r\n\r\n")
                    // All of the body before reading, as a client without Expect: 100-continue does:
                    // a server that closes on unread bytes resets the connection under its feet.
                    let sentAll = connection.send([UInt8](repeating: UInt8(ascii: "x"), count: 3_000_000))
                    return (sentAll, connection.readResponse(), connection.isClosedByPeer())
                }
                #expect(sentAll, "the connection was reset while the body was being sent")
                #expect(answer?.status == 413)
                #expect(answer?.json["error"]?["code"] == .string("body_too_large"))
                #expect(closed)
            }
        }
    }

    @Test("401 answers carry WWW-Authenticate: Bearer; 405 answers carry Allow")
    func challengeAndAllowHeaders() async throws {
        let grants: [String: AccessTokens.Grant] = ["secret-token": .init(namespace: "hdr", role: .client)]
        try await withReplicas(1, tokens: AccessTokens(grants: grants)) { replicas in
            let port = replicas[0].port
            for token in [nil, "wrong"] as [String?] {
                let answer = try await request(port, "GET", "/v1/locks/x", token: token)
                #expect(answer.status == 401)
                #expect(answer.head.lowercased().contains("\r\nwww-authenticate: bearer"), "\(answer.head)")
            }
            let get = try await request(port, "GET", "/v1/locks/x:acquire", token: "secret-token")
            #expect(get.status == 405)
            #expect(get.head.contains("\r\nAllow: POST"), "\(get.head)")
            let delete = try await request(port, "DELETE", "/v1/locks/x", token: "secret-token")
            #expect(delete.status == 405)
            #expect(delete.head.contains("\r\nAllow: GET"), "\(delete.head)")
        }
    }

    @Test("a request with two Authorization or two Host headers is refused 400, whichever copy comes first")
    func duplicateCredentialsAreRefused() async throws {
        let grants: [String: AccessTokens.Grant] = [
            "admin-token": .init(namespace: "dup", role: .admin), "client-token": .init(namespace: "dup", role: .client),
        ]
        try await withReplicas(1, tokens: AccessTokens(grants: grants)) { replicas in
            for head in [
                "Authorization: Bearer admin-token\r\nAuthorization: Bearer client-token",
                "Authorization: Bearer client-token\r\nAuthorization: Bearer admin-token",
                "Authorization: Bearer admin-token\r\nHost: other",
            ] {
                let answer = try await onThread { () -> HTTPAnswer? in
                    let connection = try TestConnection(port: replicas[0].port)
                    send(connection, "GET /v1/locks?prefix=a HTTP/1.1\r\nHost: x\r\n\(head)\r\n\r\n")
                    return connection.readResponse()
                }
                #expect(answer?.status == 400, "\(head): \(answer?.body ?? "no answer")")
                #expect(answer?.json["error"]?["code"] == .string("bad_request"))
            }
        }
    }

    @Test("bearer tokens match exactly: prefixes, extensions and other lengths are refused")
    func tokensMatchExactly() async throws {
        let grants: [String: AccessTokens.Grant] = [
            "alpha-token-1": .init(namespace: "a", role: .client), "b": .init(namespace: "b", role: .admin),
        ]
        let tokens = AccessTokens(grants: grants)
        #expect(tokens.grant(matching: "alpha-token-1") == grants["alpha-token-1"])
        #expect(tokens.grant(matching: "b") == grants["b"])
        for wrong in ["", "alpha-token-", "alpha-token-12", "alpha-token-2", "Alpha-token-1", "bb", "a"] {
            #expect(tokens.grant(matching: wrong) == nil, "\(wrong)")
        }
    }
}
