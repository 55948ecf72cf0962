extension EtcdClient {
    /// Logs in with the configured credentials and caches the token for later calls.
    ///
    /// Calls do this on their own when needed, and once more when etcd reports the token invalid;
    /// call it to check credentials early. Does nothing when no credentials are configured.
    ///
    /// - Throws: ``EtcdError`` `.authenticationFailed` for a wrong user or password,
    ///   `.failedPrecondition` when auth is not enabled, `.unavailable`, `.timeout`, `.cancelled`.
    public func authenticate(timeout: Duration? = nil) async throws {
        guard let credentials = configuration.credentials else { return }
        _ = try await login(credentials, deadline: try deadline(for: timeout))
    }

    /// The token to send, logging in first when none is cached. `nil` without credentials.
    func authToken(deadline: ContinuousClock.Instant) async throws -> String? {
        guard let credentials = configuration.credentials else { return nil }
        if let token = tokens.current { return token }
        return try await login(credentials, deadline: deadline)
    }

    private func login(_ credentials: Configuration.Credentials, deadline: ContinuousClock.Instant) async throws
        -> String
    {
        let remaining = ContinuousClock.now.duration(to: deadline)
        guard remaining > .zero else {
            throw EtcdError(code: .timeout, message: "no time left to authenticate")
        }
        let body: [UInt8]
        do {
            body = try WireCoding.encode(WireAuthenticateRequest(name: credentials.name, password: credentials.password))
        } catch {
            throw EtcdError(code: .invalidArgument, message: "cannot encode the credentials: \(error)")
        }
        let path = "/v3/auth/authenticate"
        let answer = try await send(path, body: body, retry: .idempotent, timeout: remaining, authenticated: false)
        let response = try WireCoding.decodeResponse(WireAuthenticateResponse.self, from: answer.body, path: path)
        guard let token = response.token, !token.isEmpty else {
            throw EtcdError(code: .invalidResponse, message: "etcd returned no token for user \(credentials.name)")
        }
        tokens.store(token)
        return token
    }
}
