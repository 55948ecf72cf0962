import Testing

@testable import Etcd

@Suite("endpoints, keys and retry policy", .timeLimit(.minutes(1)))
struct ClientModelTests {
    @Test(
        "endpoint URLs parse to host, port and whether they use TLS",
        arguments: [
            ("http://127.0.0.1:2379", "127.0.0.1", 2379, false),
            ("127.0.0.1:23790", "127.0.0.1", 23790, false),
            ("http://localhost", "localhost", 2379, false),
            ("http://[::1]:4001/", "::1", 4001, false),
            ("HTTP://etcd-0.internal:2379", "etcd-0.internal", 2379, false),
            ("https://127.0.0.1:2379", "127.0.0.1", 2379, true),
            ("HTTPS://[::1]:4001", "::1", 4001, true),
        ])
    func validEndpoints(text: String, host: String, port: Int, isSecure: Bool) throws {
        let endpoint = try Endpoint.parse(text)
        #expect(endpoint.host == host)
        #expect(endpoint.port == port)
        #expect(endpoint.isSecure == isSecure)
        #expect(endpoint.description.hasPrefix(isSecure ? "https://" : "http://"))
    }

    @Test("with TLS settings, an endpoint without a scheme is https; mixing http and https is refused")
    func secureEndpoints() throws {
        #expect(try Endpoint.parse("127.0.0.1:2379", secureByDefault: true).isSecure)
        #expect(try !Endpoint.parse("http://127.0.0.1:2379", secureByDefault: true).isSecure)
        #expect {
            try EtcdClient(configuration: .init(endpoints: ["https://127.0.0.1:2379", "http://127.0.0.1:2380"]))
        } throws: { ($0 as? EtcdError)?.code == .invalidEndpoint }
    }

    @Test("unusable TLS files fail the client's creation with tls_failure")
    func unusableTLSFiles() {
        let settings: [EtcdClient.Configuration.TLS] = [
            .init(caCertificatePath: "/nonexistent/ca.pem"),
            .init(caCertificatePath: "/etc/hostname"),
            .init(certificatePath: "/nonexistent/client.pem"),
            .init(privateKeyPath: "/nonexistent/client-key.pem"),
        ]
        for tls in settings {
            #expect("\(tls)") {
                try EtcdClient(configuration: .init(endpoints: ["https://127.0.0.1:2379"], tls: tls))
            } throws: { ($0 as? EtcdError)?.code == .tlsFailure }
        }
    }

    @Test(
        "malformed endpoint URLs are invalid_endpoint errors",
        arguments: ["", "ftp://x:1", "http://:2379", "http://h:0", "http://h:99999",
                    "http://h:port", "http://h:2379/v3", "http://h o:1", "http://[::1"])
    func invalidEndpoints(text: String) {
        #expect { try Endpoint.parse(text) } throws: { ($0 as? EtcdError)?.code == .invalidEndpoint }
    }

    @Test("a client with no endpoints, a bad URL or an unresolvable host is not created")
    func invalidConfigurations() {
        for endpoints in [[], ["http://h:0"], ["http://no-such-host.invalid:2379"]] {
            #expect {
                try EtcdClient(configuration: .init(endpoints: endpoints))
            } throws: { ($0 as? EtcdError)?.code == .invalidEndpoint }
        }
        #expect {
            try EtcdClient(configuration: .init(requestTimeout: .zero))
        } throws: { ($0 as? EtcdError)?.code == .invalidArgument }
        let invalid: [EtcdClient.Configuration] = [
            .init(memberResponseTimeout: .zero), .init(memberResponseTimeout: .seconds(-1)),
            .init(endpointCooldown: .seconds(-1)), .init(memberProbeInterval: .zero),
            .init(memberProbeTimeout: .zero),
            .init(txnCoalescing: .init(maximumInFlight: 0)), .init(txnCoalescing: .init(maximumOperations: 0)),
        ]
        for configuration in invalid {
            #expect {
                try EtcdClient(configuration: configuration)
            } throws: { ($0 as? EtcdError)?.code == .invalidArgument }
        }
    }

    @Test("prefix ends increment the last byte that can be incremented")
    func prefixEnd() {
        #expect(EtcdKey("a/").prefixEnd == EtcdKey("a0"))
        #expect(EtcdKey(bytes: [0x61, 0xFF]).prefixEnd == EtcdKey(bytes: [0x62]))
        #expect(EtcdKey(bytes: [0xFF, 0xFF]).prefixEnd == nil)
        #expect(KeyRange.prefix(EtcdKey(bytes: [0xFF])).end == EtcdKey(bytes: [0]))
    }

    @Test("lease IDs print as 16 hex digits")
    func leaseHex() {
        #expect(LeaseID(0x1234).hexString == "0000000000001234")
        #expect(LeaseID(-1).hexString == "ffffffffffffffff")
    }

    @Test("backoff doubles to the cap and is jittered within [half, full]")
    func backoff() {
        let policy = EtcdClient.Configuration.RetryPolicy(
            maximumAttempts: 5, initialBackoff: .milliseconds(10), maximumBackoff: .milliseconds(40))
        for _ in 0..<200 {
            let first = policy.backoff(beforeRetry: 1)
            #expect(first >= .milliseconds(5) && first <= .milliseconds(10))
            let third = policy.backoff(beforeRetry: 3)
            #expect(third >= .milliseconds(20) && third <= .milliseconds(40))
            let tenth = policy.backoff(beforeRetry: 10)
            #expect(tenth >= .milliseconds(20) && tenth <= .milliseconds(40))
        }
    }

    @Test("a failed endpoint is avoided for its cooldown and the next one is preferred")
    func selector() {
        let selector = EndpointSelector(count: 3, cooldown: .seconds(60))
        #expect(selector.pick() == 0)
        selector.markFailed(0)
        #expect(selector.pick() == 1)
        selector.markFailed(1)
        #expect(selector.pick() == 2)
        selector.markFailed(2)
        // All in cooldown: the one whose cooldown ends first.
        #expect(selector.pick() == 0)
    }

    @Test("the error description is bounded and names the code")
    func errorDescription() {
        let error = EtcdError(code: .leaseNotFound, message: "etcdserver: requested lease not found", grpcStatus: 5)
        #expect(error.code.description == "lease_not_found")
        #expect(error.description == "etcd error lease_not_found: etcdserver: requested lease not found")
    }
}
