import Etcd
import EtcdTestSupport
import Testing

/// Answers that are not a healthy etcd's, from a first member, and what a call does about them.
@Suite("calls move past a member that hangs or answers garbage", .timeLimit(.minutes(1)))
struct MemberFailoverTests {
    /// A client whose first endpoint is a peer playing `reply` and whose second is the real etcd.
    private func withBadFirstMember<Result: Sendable>(
        _ reply: ScriptedHTTPPeer.Reply, _ body: (EtcdClient) async throws -> Result
    ) async throws -> Result {
        let peer = try ScriptedHTTPPeer(reply: reply)
        defer { peer.stop() }
        // A call deadline far beyond the member response timeout (750 ms): a client that did not
        // move on would spend all of it on the first member and fail; one that moves on answers
        // well within it even on a loaded machine.
        var configuration = try await TestEnvironment.configuration(requestTimeout: .seconds(30))
        configuration.endpoints = [peer.url] + configuration.endpoints
        return try await EtcdClient.withClient(configuration, body)
    }

    @Test(
        "a read whose first member hangs, answers a proxy's 502 page, or 200 without JSON is answered by the next member",
        arguments: [
            ScriptedHTTPPeer.Reply.bytesThenHang(""),
            .bytesThenClose("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/html\r\nContent-Length: 21\r\n\r\n<html>bad gw</html>\r\n"),
            .bytesThenClose("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!"),
            .bytesThenClose("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"),
        ])
    func readMovesOn(reply: ScriptedHTTPPeer.Reply) async throws {
        let (answer, elapsed) = try await withBadFirstMember(reply) { client in
            try await measure { try await client.range(RangeRequest(.key("/member-failover/absent"))) }
        }
        #expect(answer.keyValues.isEmpty)
        // Soon after the member response timeout (750 ms), not at the 30 s call deadline.
        #expect(elapsed < .seconds(15), "took \(elapsed)")
    }

    @Test("an idempotent write whose first attempt may have landed reports so even when the next attempt is refused cleanly")
    func ambiguityIsSticky() async throws {
        // The first member reads the request and closes without answering: it may have applied
        // it. The second refuses cleanly ("no leader"), which alone would mean "not applied".
        let ambiguous = try ScriptedHTTPPeer(reply: .bytesThenClose(""))
        let refusing = try ScriptedHTTPPeer(
            reply: .bytesThenClose(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 78\r\n\r\n"
                    + #"{"error":"etcdserver: no leader","code":14,"message":"etcdserver: no leader"}"# + "\n"))
        defer {
            ambiguous.stop()
            refusing.stop()
        }
        var configuration = EtcdClient.Configuration(endpoints: [ambiguous.url, refusing.url], requestTimeout: .seconds(5))
        configuration.retry.maximumAttempts = 2
        let error = try await EtcdClient.withClient(configuration) { client in
            await #expect(throws: EtcdError.self) {
                try await client.txn(Txn(then: [.put("/sticky", value: [1])]), retry: .idempotent)
            }
        }
        #expect(error?.code == .noLeader, "\(String(describing: error))")
        #expect(error?.mayHaveBeenApplied == true)
    }
}

@Suite("a watch resuming on another member", .timeLimit(.minutes(1)))
struct WatchResumeTests {
    @Test("an event that arrives between the resumed stream's created replies is delivered, not dropped")
    func earlyEventAfterReconnect() async throws {
        let header = #""header":{"cluster_id":"1","member_id":"1","revision":"2","raft_term":"2"}"#
        let created = #"{"result":{\#(header),"created":true}}"# + "\n"
        let deletion = #"{"result":{"header":{"revision":"6"},"events":[{"type":"DELETE","kv":{"key":"YS8x","mod_revision":"6"}}]}}"# + "\n"
        // The first member acknowledges both ranges, then its stream ends (the member died).
        let first = try ScriptedHTTPPeer(reply: .bytesThenClose("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + created + created))
        // The second acknowledges one range, delivers a deletion, then acknowledges the other.
        let second = try ScriptedHTTPPeer(
            reply: .bytesThenHang("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n" + created + deletion + created))
        defer {
            first.stop()
            second.stop()
        }
        let configuration = EtcdClient.Configuration(endpoints: [first.url, second.url], requestTimeout: .seconds(5))
        try await EtcdClient.withClient(configuration) { client in
            let watch = try await client.watch([.key("a/0"), .key("a/1")])
            defer { watch.cancel() }
            let event = try await withDeadline(.seconds(10), "the deletion after the resume") {
                var iterator = watch.makeAsyncIterator()
                return try await iterator.next()
            }
            #expect(event?.kind == .delete && event?.keyValue.key == "a/1")
        }
    }
}
