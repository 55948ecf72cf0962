import Synchronization

extension EtcdClient {
    /// Sends one unary gateway call and decodes its answer.
    ///
    /// The single path every unary call takes: deadline, endpoint choice, retries allowed by
    /// `retry`, one token refresh when etcd says the token is invalid, and error mapping.
    func call<Request: Encodable, Response: Decodable>(
        _ path: String, _ request: Request, as response: Response.Type, retry: RetryRule,
        timeout: Duration?, endpoint pinned: Int? = nil, requiresLeader: Bool = true
    ) async throws -> Response {
        let body: [UInt8]
        do {
            body = try WireCoding.encode(request)
        } catch {
            throw EtcdError(code: .invalidArgument, message: "cannot encode the request to \(path): \(error)")
        }
        let answer = try await send(
            path, body: body, retry: retry, timeout: timeout, endpoint: pinned, requiresLeader: requiresLeader)
        return try WireCoding.decodeResponse(response, from: answer.body, path: path)
    }

    /// The deadline of a call that may take `timeout` (the configured default when `nil`).
    func deadline(for timeout: Duration?) throws -> ContinuousClock.Instant {
        let budget = timeout ?? configuration.requestTimeout
        guard budget > .zero else { throw EtcdError(code: .invalidArgument, message: "the timeout must be positive") }
        return .now + budget
    }

    /// Sends `body` to `path` until it succeeds, fails for good, or the deadline passes.
    /// Returns only 200 responses.
    ///
    /// A request that may be sent again (`retry: .idempotent`) gets ``Configuration/memberResponseTimeout``
    /// per member to start answering, and moves on to the next member after a hung member, a
    /// broken connection or an answer that is not etcd's (a proxy's 502, an HTML page). The error
    /// finally thrown says `mayHaveBeenApplied` when *any* attempt may have reached etcd, not just
    /// the last one: an enqueue whose first attempt reached a leader that then died, followed by
    /// clean refusals, may still land.
    func send(
        _ path: String, body: [UInt8], retry: RetryRule, timeout: Duration?, endpoint pinned: Int? = nil,
        authenticated: Bool = true, requiresLeader: Bool = true
    ) async throws -> HTTPResponse {
        let deadline = try deadline(for: timeout)
        var attempts = 0
        var triedEndpoints: Set<Int> = []
        var hasRefreshedToken = false
        var mayHaveBeenApplied = false
        func settled(_ error: EtcdError) -> EtcdError {
            var error = error
            error.mayHaveBeenApplied = error.mayHaveBeenApplied || mayHaveBeenApplied
            return error
        }
        while true {
            if Task.isCancelled {
                throw settled(EtcdError(code: .cancelled, message: "the call to \(path) was cancelled"))
            }
            let endpoint = pinned ?? selector.pick()
            let token: String?
            do {
                token = authenticated ? try await authToken(deadline: deadline) : nil
            } catch let error as EtcdError {
                throw settled(error)
            }
            attempts += 1
            requestCounter.add(1, ordering: .relaxed)
            // Only a request that may be sent again can give up on a silent member early.
            let mayMoveOn = retry == .idempotent && pinned == nil && endpoints.count > 1
            let responseStart = mayMoveOn ? min(deadline, .now + configuration.memberResponseTimeout) : nil
            let failure: EtcdError
            do {
                let response = try await transport.send(
                    HTTPRequest(path: path, body: body, authorization: token, requiresLeader: requiresLeader),
                    to: endpoint, deadline: deadline, responseStartDeadline: responseStart)
                if response.head.status == 200, response.body.first == UInt8(ascii: "{") { return response }
                let error = response.head.status == 200
                    ? EtcdError(
                        code: .invalidResponse, message: "\(path) at \(endpoints[endpoint]) answered 200 without a JSON object",
                        mayHaveBeenApplied: true)
                    : WireErrorMapping.error(httpStatus: response.head.status, body: response.body)
                if error.code == .unauthenticated, token != nil, !hasRefreshedToken {
                    // The token expired or the member restarted; etcd rejected the call without applying it.
                    hasRefreshedToken = true
                    tokens.invalidate(token)
                    attempts -= 1
                    continue
                }
                // A refusal (no leader, unavailable) is safe to send again, elsewhere; an answer
                // that leaves the outcome open (etcd's own "request timed out", a proxy's error
                // page) only if idempotent.
                let transient = [.noLeader, .unavailable, .timeout, .invalidResponse].contains(error.code)
                guard transient, !error.mayHaveBeenApplied || retry == .idempotent else { throw settled(error) }
                selector.markFailed(endpoint)
                failure = error
            } catch let error as TransportError {
                failure = mapTransportError(error, path: path, endpoint: endpoint)
                switch error.kind {
                case .cancelled, .shutDown:
                    throw settled(failure)
                case .timedOut:
                    selector.markFailed(endpoint)
                    // The member did not start answering in time: another may, within the deadline.
                    guard mayMoveOn, ContinuousClock.now < deadline else { throw settled(failure) }
                case .tlsFailed:
                    // Not a passing fault: only a member not tried yet may do better.
                    selector.markFailed(endpoint)
                    guard pinned == nil, triedEndpoints.union([endpoint]).count < endpoints.count else { throw settled(failure) }
                case .connectFailed, .connectionClosed, .malformedResponse:
                    selector.markFailed(endpoint)
                    if error.requestMayHaveBeenSent && retry != .idempotent { throw settled(failure) }
                }
            }
            mayHaveBeenApplied = mayHaveBeenApplied || failure.mayHaveBeenApplied
            guard attempts < configuration.retry.maximumAttempts, pinned == nil else { throw settled(failure) }
            triedEndpoints.insert(endpoint)
            do {
                try await backOff(
                    ifEveryMemberWasTried: triedEndpoints.count >= endpoints.count, attempts: attempts, deadline: deadline,
                    failure: failure, what: "the call to \(path)")
            } catch let error as EtcdError {
                throw settled(error)
            }
            configuration.logger.log(
                .debug, "retrying \(path) after: \(failure)", ["attempt": String(attempts + 1)])
        }
    }

    /// The pause between attempts of one call or watch: none while some member was not tried
    /// yet (failing over is immediate), then the retry policy's jittered backoff.
    ///
    /// - Throws: `failure` when the pause would end past `deadline`; ``EtcdError`` `.cancelled`
    ///   when cancelled while pausing.
    func backOff(
        ifEveryMemberWasTried triedEverywhere: Bool, attempts: Int, deadline: ContinuousClock.Instant,
        failure: EtcdError, what: String
    ) async throws {
        guard triedEverywhere else { return }
        let wait = configuration.retry.backoff(beforeRetry: attempts)
        guard ContinuousClock.now + wait < deadline else { throw failure }
        do {
            try await Task.sleep(for: wait)
        } catch {
            throw EtcdError(code: .cancelled, message: "\(what) was cancelled")
        }
    }

    /// The typed error for a transport failure.
    func mapTransportError(_ error: TransportError, path: String, endpoint: Int) -> EtcdError {
        let member = endpoints[endpoint].description
        let code: EtcdError.Code
        switch error.kind {
        case .cancelled: code = .cancelled
        case .shutDown: code = .clientShutdown
        case .timedOut: code = .timeout
        case .connectFailed, .connectionClosed: code = .unavailable
        case .malformedResponse: code = .invalidResponse
        case .tlsFailed: code = .tlsFailure
        }
        return EtcdError(
            code: code, message: "\(path) at \(member): \(error.detail)",
            mayHaveBeenApplied: error.requestMayHaveBeenSent, underlying: error)
    }
}
