import Synchronization

extension EtcdClient {
    /// The answer of a server that is not etcd, as it came: status and body.
    package struct PlainAnswer: Sendable {
        /// The HTTP status.
        package var status: Int
        /// The whole body.
        package var body: [UInt8]
    }

    /// Sends one JSON POST to endpoint `endpoint` of this client's endpoints, which here are not
    /// etcd members but other HTTP servers of this package (the lock service, called by its
    /// verifier), and returns whatever status it answered with.
    ///
    /// The same transport as every etcd call (connection reuse, deadlines, and what comes with
    /// it), but none of a call's etcd semantics: one attempt, no etcd authentication, no mapping
    /// of the status to an error. The caller decides what to retry and where.
    ///
    /// - Throws: ``EtcdError`` `.timeout` (no complete answer before `timeout`), `.unavailable`
    ///   (refused, reset, closed), `.invalidResponse`, `.cancelled`, `.clientShutdown`;
    ///   `mayHaveBeenApplied` says whether the request may have reached the server.
    package func plainPost(
        _ path: String, body: [UInt8], authorization: String? = nil, endpoint: Int, timeout: Duration
    ) async throws(EtcdError) -> PlainAnswer {
        guard endpoints.indices.contains(endpoint) else {
            throw EtcdError(code: .invalidArgument, message: "no endpoint \(endpoint) among \(endpoints.count)")
        }
        guard timeout > .zero else { throw EtcdError(code: .invalidArgument, message: "the timeout must be positive") }
        let deadline = ContinuousClock.now + timeout
        requestCounter.add(1, ordering: .relaxed)
        do {
            let response = try await transport.send(
                HTTPRequest(path: path, body: body, authorization: authorization, requiresLeader: false),
                to: endpoint, deadline: deadline, responseStartDeadline: nil)
            return PlainAnswer(status: response.head.status, body: response.body)
        } catch let error as TransportError {
            throw mapTransportError(error, path: path, endpoint: endpoint)
        } catch {
            throw EtcdError(code: .invalidResponse, message: "\(path) at \(endpoints[endpoint]): \(error)")
        }
    }
}
