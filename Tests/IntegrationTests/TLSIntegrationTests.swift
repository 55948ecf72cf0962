import Etcd
import EtcdLock
import EtcdTestSupport
import Foundation
import Testing

@Suite("TLS to etcd: a member that serves only https and requires client certificates", .timeLimit(.minutes(2)))
struct TLSIntegrationTests {
    @Test("a lock, a fenced write, a watch and session keepalives work over mutual TLS")
    func lockWatchAndKeepaliveOverMutualTLS() async throws {
        let cluster = try await TestEnvironment.tlsCluster()
        try await EtcdClient.withClient(cluster.configuration()) { client in
            #expect(client.endpointURLs.allSatisfy { $0.hasPrefix("https://") })
            try await withTestPrefix(client) { prefix in
                let watch = try await client.watch(prefix.range)
                var events = watch.makeAsyncIterator()
                try await EtcdSession.withSession(client, ttl: .seconds(2)) { session in
                    let mutex = try EtcdMutex("tls-\(UUID().uuidString.prefix(8))", session: session)
                    let firstDeadline = session.validUntil
                    try await mutex.withLock { lock in
                        // Keepalives (one POST each, over pooled TLS connections) must move the
                        // lease's deadline past the first TTL while the lock is held.
                        let renewed = try await eventually(within: .seconds(10)) {
                            session.validUntil > firstDeadline + .seconds(2)
                        }
                        #expect(renewed)
                        let write = try await mutex.fenced(lock, Txn(then: [.put(prefix("counter"), value: "1".utf8)]))
                        #expect(write.succeeded)
                    }
                    #expect(session.isValid)
                }
                let event = try await events.next()
                #expect(event?.keyValue.key == prefix("counter"))
            }
        }
    }

    @Test("a connection reset during the TLS handshake is a broken connection (unavailable, ridden out by waiters), not a TLS failure")
    func resetDuringHandshakeIsNotATLSFailure() async throws {
        let cluster = try await TestEnvironment.tlsCluster()
        // (A clean close before any answer stays a TLS failure: that is how a plaintext member
        // turns a ClientHello away.)
        for reply in [ScriptedHTTPPeer.Reply.resetAtOnce] {
            // A "member" that accepts TCP, then resets the connection under the client's
            // ClientHello, as a restarting member or a proxy in between does for a moment.
            let peer = try ScriptedHTTPPeer(reply: reply)
            defer { peer.stop() }
            var configuration = cluster.configuration(requestTimeout: .seconds(2))
            configuration.endpoints = [peer.url.replacingOccurrences(of: "http://", with: "https://")]
            let error = try await EtcdClient.withClient(configuration) { client in
                await #expect(throws: EtcdError.self) { try await client.range(RangeRequest(.key("/tls-reset-probe"))) }
            }
            #expect(error?.code == .unavailable, "\(String(describing: error))")
        }
    }

    @Test("https://localhost is verified against the certificate's DNS name, 127.0.0.1 against its IP SAN")
    func namesAndAddressesVerify() async throws {
        let cluster = try await TestEnvironment.tlsCluster()
        for endpoint in [cluster.endpoints[0], cluster.endpoints[0].replacingOccurrences(of: "127.0.0.1", with: "localhost")] {
            var configuration = cluster.configuration()
            configuration.endpoints = [endpoint]
            let answer = try await EtcdClient.withClient(configuration) { client in
                try await client.range(RangeRequest(.key("/tls-probe")))
            }
            #expect(answer.keyValues.isEmpty)
        }
    }

    /// A bad TLS input and the failure it must produce.
    enum BadInput: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case wrongCA = "a CA that did not issue the member's certificate"
        case expiredCertificate = "a member whose certificate has expired"
        case wrongHostName = "a member whose certificate names another host"
        case missingClientCertificate = "no client certificate for a member that requires one"
        case tlsToPlaintextPort = "https:// to a member that speaks plain HTTP"
        case unreadableFile = "a CA file that cannot be read"
        case malformedPEM = "a CA file that is not PEM"
        case mismatchedKey = "a client key that does not belong to the certificate"
        case certificateWithoutKey = "a client certificate without its key"

        var testDescription: String { rawValue }
    }

    @Test("each bad TLS input is a tls_failure carrying OpenSSL's reason, well within the call's deadline", arguments: BadInput.allCases)
    func badInput(_ input: BadInput) async throws {
        let cluster = try await TestEnvironment.tlsCluster()
        var configuration = cluster.configuration(requestTimeout: .seconds(5))
        var peer: RunningCommand?
        switch input {
        case .wrongCA:
            configuration.tls?.caCertificatePath = cluster.tlsFile("other-ca.pem")
        case .expiredCertificate:
            peer = try await startTLSPeer(certificate: cluster.tlsFile("expired.pem"), key: cluster.tlsFile("expired-key.pem"))
        case .wrongHostName:
            peer = try await startTLSPeer(certificate: cluster.tlsFile("wrong-name.pem"), key: cluster.tlsFile("wrong-name-key.pem"))
        case .missingClientCertificate:
            configuration.tls?.certificatePath = nil
            configuration.tls?.privateKeyPath = nil
        case .tlsToPlaintextPort:
            configuration.endpoints = try await TestEnvironment.endpoints().map { $0.replacingOccurrences(of: "http://", with: "https://") }
        case .unreadableFile:
            configuration.tls?.caCertificatePath = "/nonexistent/\(UUID().uuidString)/ca.pem"
        case .malformedPEM:
            let path = FileManager.default.temporaryDirectory.appendingPathComponent("not-pem-\(UUID().uuidString).pem").path
            try Data("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n".utf8).write(to: URL(fileURLWithPath: path))
            configuration.tls?.caCertificatePath = path
        case .mismatchedKey:
            configuration.tls?.privateKeyPath = cluster.tlsFile("server-key.pem")
        case .certificateWithoutKey:
            configuration.tls?.privateKeyPath = nil
        }
        if let peer, let port = acceptedPort(peer.output) {
            configuration.endpoints = ["https://127.0.0.1:\(port)"]
        }
        let (error, elapsed) = await firstCallFailure(configuration)
        peer?.send(SIGTERM)
        let failure = try #require(error as? EtcdError, "\(input.rawValue) must fail with an EtcdError, not \(String(describing: error))")
        #expect(failure.code == .tlsFailure, "\(failure)")
        #expect(!failure.mayHaveBeenApplied)
        #expect(elapsed < .seconds(5), "took \(elapsed), past the call's 5 s deadline")
        let expectedReason: String? = switch input {
        case .wrongCA: "unable to get local issuer certificate"
        case .expiredCertificate: "certificate has expired"
        case .wrongHostName: "IP address mismatch"
        case .unreadableFile: "No such file or directory"
        case .mismatchedKey: "key values mismatch"
        default: nil
        }
        if let expectedReason { #expect(failure.message.contains(expectedReason), "\(failure)") }
    }

    @Test("plain http:// to a TLS member fails as unavailable, says why, and never reaches etcd's API")
    func plaintextToTLSPort() async throws {
        let cluster = try await TestEnvironment.tlsCluster()
        let configuration = EtcdClient.Configuration(
            endpoints: cluster.endpoints.map { $0.replacingOccurrences(of: "https://", with: "http://") },
            requestTimeout: .seconds(5))
        let (error, elapsed) = await firstCallFailure(configuration)
        let failure = try #require(error as? EtcdError)
        #expect(failure.code == .unavailable)
        #expect(failure.message.contains("https://"), "\(failure)")
        #expect(elapsed < .seconds(5), "took \(elapsed)")
    }

    @Test("TLS settings with an http:// endpoint are refused: never a silent plaintext connection")
    func tlsSettingsWithPlainEndpoint() async throws {
        var configuration = EtcdClient.Configuration(endpoints: ["http://127.0.0.1:2379"])
        configuration.tls = .init(caCertificatePath: "/etc/ssl/certs/ca-certificates.crt")
        #expect {
            _ = try EtcdClient(configuration: configuration)
        } throws: { ($0 as? EtcdError)?.code == .invalidEndpoint }
        // Without a scheme, TLS settings make an endpoint https.
        configuration.endpoints = ["127.0.0.1:2379"]
        let client = try EtcdClient(configuration: configuration)
        #expect(client.endpointURLs == ["https://127.0.0.1:2379"])
        await client.shutdown()
    }
}

/// Creates a client for `configuration` and sends one read; returns what failed (`nil` if
/// nothing did) and how long creating, calling and shutting down took.
private func firstCallFailure(_ configuration: EtcdClient.Configuration) async -> ((any Error)?, Duration) {
    await measure { () async -> (any Error)? in
        do {
            _ = try await EtcdClient.withClient(configuration) { client in try await client.range(RangeRequest(.key("/tls-probe"))) }
            return nil
        } catch {
            return error
        }
    }
}

/// Starts `openssl s_server -www` (answers on its own, never reads its standard input) on a free
/// loopback port, presenting `certificate`, and waits until
/// it listens (its `ACCEPT host:port` line). The caller stops it (SIGTERM; SIGKILL on deinit).
private func startTLSPeer(certificate: String, key: String) async throws -> RunningCommand {
    let peer = try CLIRunner.startProgram(
        "/usr/bin/openssl", ["s_server", "-accept", "127.0.0.1:0", "-cert", certificate, "-key", key, "-www"])
    guard try await eventually(within: .seconds(10), { acceptedPort(peer.output) != nil }) else {
        throw TestEnvironmentError(description: "openssl s_server did not start: \(peer.output)")
    }
    return peer
}

/// The port of `openssl s_server`'s `ACCEPT 127.0.0.1:PORT` line.
private func acceptedPort(_ output: String) -> Int? {
    guard let line = output.split(separator: "\n").first(where: { $0.hasPrefix("ACCEPT ") }),
        let colon = line.lastIndex(of: ":")
    else { return nil }
    return Int(line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
}
