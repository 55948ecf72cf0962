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
        var configuration = try await TestEnvironment.configuration(requestTimeout: .seconds(5))
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
        // Within the member response timeout (750 ms), not the 5 s call deadline.
        #expect(elapsed < .seconds(3), "took \(elapsed)")
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
