import Synchronization
import SystemTLS

/// A client for etcd v3 over its HTTP/JSON gateway: KV, transactions, leases, watches, auth
/// and cluster status, with deadlines on every call and failover between members.
///
/// ```swift
/// try await EtcdClient.withClient(.init(endpoints: ["http://127.0.0.1:2379"])) { client in
///     _ = try await client.put("greeting", value: "hello".utf8)
///     let result = try await client.range(RangeRequest(.key("greeting")))
///     print(result.keyValues.first?.valueString ?? "missing")
/// }
/// ```
///
/// The client owns one I/O thread and its sockets. Call ``shutdown()`` when done (or use
/// ``withClient(_:isolation:_:)``); dropping the last reference also stops the thread.
public final class EtcdClient: Sendable {
    /// The configuration the client was created with.
    public let configuration: Configuration
    let endpoints: [Endpoint]
    let transport: any HTTPTransport
    let selector: EndpointSelector
    let tokens = AuthTokenStore()
    let requestCounter = Atomic<Int>(0)
    /// Merges coalescible transactions; `nil` when coalescing is off.
    let coalescer: TxnCoalescer?

    /// How many HTTP requests this client has sent (every attempt, watch streams included).
    /// Useful to check that an algorithm's cost does not grow with contention.
    public var requestsSent: Int { requestCounter.load(ordering: .relaxed) }

    /// Creates a client and starts its I/O thread. Host names are resolved here, once.
    ///
    /// TLS files are read here too, and a client key checked against its certificate.
    ///
    /// - Throws: ``EtcdError`` `.invalidEndpoint` when the list is empty, a URL cannot be parsed,
    ///   a host cannot be resolved, or `http` and `https` are mixed (or `http` is given with
    ///   ``Configuration/tls``); `.invalidArgument` for a non-positive timeout or pool size;
    ///   `.tlsFailure` for a TLS file that cannot be read or used.
    public convenience init(configuration: Configuration) throws {
        let endpoints = try Self.validate(configuration)
        let tls = try Self.makeTLSContext(configuration, endpoints: endpoints)
        var resolved: [TransportEndpoint] = []
        for endpoint in endpoints {
            switch SocketAddress.resolve(host: endpoint.host, port: endpoint.port) {
            case .success(let address):
                resolved.append(
                    TransportEndpoint(
                        address: address, hostHeader: endpoint.hostHeader, tls: tls.map { ($0, endpoint.host) }))
            case .failure(let failure):
                throw EtcdError(
                    code: .invalidEndpoint, message: "cannot resolve \(endpoint.host): \(failure.reason)")
            }
        }
        let transport: SocketTransport
        do {
            transport = try SocketTransport(
                endpoints: resolved, maximumConnectionsPerEndpoint: configuration.maximumConnectionsPerEndpoint,
                liveness: configuration.memberProbeInterval.map {
                    LivenessCheck(interval: $0, timeout: configuration.memberProbeTimeout)
                })
        } catch {
            throw EtcdError(code: .unavailable, message: "cannot start the I/O thread: \(error)")
        }
        self.init(configuration: configuration, endpoints: endpoints, transport: transport)
    }

    /// Creates a client over a given transport (tests inject faults this way).
    init(configuration: Configuration, endpoints: [Endpoint], transport: any HTTPTransport) {
        self.configuration = configuration
        self.endpoints = endpoints
        self.transport = transport
        selector = EndpointSelector(count: endpoints.count, cooldown: configuration.endpointCooldown)
        let coalescing = configuration.txnCoalescing
        coalescer = coalescing.isEnabled
            ? TxnCoalescer(maximumInFlight: coalescing.maximumInFlight, maximumOperations: coalescing.maximumOperations)
            : nil
    }

    /// Runs `body` with a new client and shuts the client down afterwards, even when `body` throws.
    ///
    /// `body` runs in the caller's isolation — on the main actor when called from top-level code
    /// or `@MainActor` code, on the actor when called from an actor's method — so it may use that
    /// actor's state, and neither `body` nor its result needs to be `Sendable` (the way the standard
    /// library's `withTaskGroup` takes its `isolation`). The client's I/O runs on its own thread
    /// whatever the isolation. Cancelling the calling task fails the client's calls in flight with
    /// `.cancelled`; the client is shut down all the same before the error reaches the caller.
    ///
    /// - Parameters:
    ///   - isolation: the actor `body` runs on; leave it to its default, the caller's.
    /// - Throws: ``EtcdError`` as ``init(configuration:)`` throws it; whatever `body` throws.
    public static func withClient<Result>(
        _ configuration: Configuration,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (EtcdClient) async throws -> Result
    ) async throws -> Result {
        let client = try EtcdClient(configuration: configuration)
        do {
            let result = try await body(client)
            await client.shutdown()
            return result
        } catch {
            await client.shutdown()
            throw error
        }
    }

    /// Fails every call in flight with `.clientShutdown`, closes every connection and stops the
    /// I/O thread. Returns once the thread has stopped. Later calls fail with `.clientShutdown`.
    public func shutdown() async {
        await transport.shutdown()
    }

    /// The endpoint URLs in the order calls try them.
    public var endpointURLs: [String] { endpoints.map(\.description) }

    private static func validate(_ configuration: Configuration) throws -> [Endpoint] {
        guard !configuration.endpoints.isEmpty else {
            throw EtcdError(code: .invalidEndpoint, message: "no endpoints were given")
        }
        guard configuration.requestTimeout > .zero else {
            throw EtcdError(code: .invalidArgument, message: "requestTimeout must be positive")
        }
        guard configuration.maximumConnectionsPerEndpoint > 0 else {
            throw EtcdError(code: .invalidArgument, message: "maximumConnectionsPerEndpoint must be positive")
        }
        guard configuration.retry.maximumAttempts > 0 else {
            throw EtcdError(code: .invalidArgument, message: "retry.maximumAttempts must be positive")
        }
        guard configuration.memberResponseTimeout > .zero else {
            throw EtcdError(code: .invalidArgument, message: "memberResponseTimeout must be positive")
        }
        guard configuration.endpointCooldown >= .zero else {
            throw EtcdError(code: .invalidArgument, message: "endpointCooldown must not be negative")
        }
        if let interval = configuration.memberProbeInterval, interval <= .zero {
            throw EtcdError(code: .invalidArgument, message: "memberProbeInterval must be positive (or nil: no probes)")
        }
        guard configuration.memberProbeTimeout > .zero else {
            throw EtcdError(code: .invalidArgument, message: "memberProbeTimeout must be positive")
        }
        let coalescing = configuration.txnCoalescing
        guard !coalescing.isEnabled || (coalescing.maximumInFlight > 0 && coalescing.maximumOperations > 0) else {
            throw EtcdError(
                code: .invalidArgument, message: "txnCoalescing.maximumInFlight and maximumOperations must be positive")
        }
        let endpoints = try configuration.endpoints.map {
            try Endpoint.parse($0, secureByDefault: configuration.tls != nil)
        }
        if endpoints.contains(where: \.isSecure) || configuration.tls != nil {
            guard endpoints.allSatisfy(\.isSecure) else {
                throw EtcdError(
                    code: .invalidEndpoint,
                    message: "every endpoint must be https:// when TLS is used (TLS settings or an https:// endpoint "
                        + "were given): \(endpoints.filter { !$0.isSecure }.map(\.description).joined(separator: ", "))")
            }
        }
        return endpoints
    }

    /// The TLS context for `https` members, or `nil` when every member is plain HTTP.
    private static func makeTLSContext(_ configuration: Configuration, endpoints: [Endpoint]) throws -> TLSContext? {
        guard endpoints.contains(where: \.isSecure) else { return nil }
        let settings = configuration.tls ?? Configuration.TLS()
        do {
            return try TLSContext(
                clientTrusting: settings.caCertificatePath, certificatePath: settings.certificatePath,
                privateKeyPath: settings.privateKeyPath)
        } catch {
            throw EtcdError(code: .tlsFailure, message: error.reason, underlying: error)
        }
    }
}
