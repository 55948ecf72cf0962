import Etcd
import EtcdTestSupport
import Testing

@Suite("transport faults become typed errors within the deadline", .timeLimit(.minutes(1)))
struct TransportFaultTests {
    /// One call against a peer playing `reply`. The deadline is generous except where the test is
    /// about the deadline itself: a loaded 2-core machine must not turn a fault into a timeout.
    private func call(_ reply: ScriptedHTTPPeer.Reply, timeout: Duration = .seconds(10)) async throws -> (
        EtcdError?, Duration
    ) {
        let peer = try ScriptedHTTPPeer(reply: reply)
        defer { peer.stop() }
        var configuration = EtcdClient.Configuration(endpoints: [peer.url], requestTimeout: timeout)
        configuration.retry.maximumAttempts = 1
        return try await EtcdClient.withClient(configuration) { client in
            await measure { () -> EtcdError? in
                do {
                    _ = try await client.range(RangeRequest(.key("k")))
                    return nil
                } catch {
                    return error as? EtcdError
                }
            }
        }
    }

    @Test("a 200 answer whose body is not JSON is invalid_response")
    func notJSON() async throws {
        let (error, _) = try await call(.bytesThenClose("HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot json!"))
        #expect(error?.code == .invalidResponse)
    }

    @Test("a chunked body cut off by the connection closing is unavailable and may have been applied")
    func truncatedChunked() async throws {
        let (error, _) = try await call(
            .bytesThenClose("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n{\"header\":"))
        #expect(error?.code == .unavailable)
        #expect(error?.mayHaveBeenApplied == true)
    }

    @Test("a connection closed before any answer is unavailable")
    func closedMidResponse() async throws {
        let (error, _) = try await call(.bytesThenClose("HTTP/1.1 200 OK\r\nContent-Len"))
        #expect(error?.code == .unavailable)
    }

    @Test("a peer that never finishes answering costs exactly the deadline: timeout")
    func hangingPeer() async throws {
        let (error, elapsed) = try await call(
            .bytesThenHang("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"), timeout: .milliseconds(300))
        #expect(error?.code == .timeout)
        #expect(elapsed >= .milliseconds(300) && elapsed < .seconds(2))
    }

    @Test("a cluster nobody listens on fails with unavailable within the deadline, not a hang")
    func unreachableCluster() async throws {
        // A port that was just free: bind-and-close finds one nobody listens on.
        let peer = try ScriptedHTTPPeer(reply: .bytesThenClose(""))
        peer.stop()
        let configuration = EtcdClient.Configuration(endpoints: [peer.url, peer.url], requestTimeout: .seconds(5))
        let (error, elapsed) = try await EtcdClient.withClient(configuration) { client in
            await measure { () -> EtcdError? in
                do {
                    _ = try await client.put("k", value: [1])
                    return nil
                } catch {
                    return error as? EtcdError
                }
            }
        }
        #expect(error?.code == .unavailable)
        #expect(error?.mayHaveBeenApplied == false)
        #expect(elapsed < .seconds(5))
    }

    @Test("calls after shutdown fail with client_shutdown")
    func afterShutdown() async throws {
        let client = try EtcdClient(configuration: try await TestEnvironment.configuration())
        _ = try await client.range(RangeRequest(.key("/anything")))
        await client.shutdown()
        await #expect {
            try await client.range(RangeRequest(.key("/anything")))
        } throws: { ($0 as? EtcdError)?.code == .clientShutdown }
    }

    @Test("a cancelled call returns promptly with cancelled")
    func cancelledCall() async throws {
        let peer = try ScriptedHTTPPeer(reply: .bytesThenHang(""))
        defer { peer.stop() }
        try await EtcdClient.withClient(.init(endpoints: [peer.url], requestTimeout: .seconds(30))) { client in
            let task = Task { try await client.range(RangeRequest(.key("k"))) }
            task.cancel()
            let (result, elapsed) = await measure { await task.result }
            #expect(elapsed < .seconds(5))
            guard case .failure(let error) = result else {
                Issue.record("a cancelled call succeeded")
                return
            }
            #expect((error as? EtcdError)?.code == .cancelled)
        }
    }
}
