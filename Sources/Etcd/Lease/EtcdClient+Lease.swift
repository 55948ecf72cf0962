extension EtcdClient {
    /// Grants a lease that expires `ttlSeconds` after its last keepalive.
    ///
    /// Not retried when the outcome is unknown (a second grant would leave an extra lease until its
    /// TTL ran out).
    ///
    /// - Parameters:
    ///   - ttlSeconds: the time to live, at least 1; etcd raises small values to its minimum (about 2 s).
    ///   - id: a lease ID to use instead of one etcd picks.
    /// A grant whose answer was lost is sent again (to another member) when etcd picks the ID:
    /// the unseen lease, if any, holds no keys and expires after its TTL.
    ///
    /// - Throws: ``EtcdError`` `.invalidArgument` (TTL not positive), `.unavailable`, `.timeout`, `.cancelled`.
    public func grantLease(ttlSeconds: Int64, id: LeaseID? = nil, timeout: Duration? = nil) async throws
        -> LeaseGrant
    {
        guard ttlSeconds > 0 else {
            throw EtcdError(code: .invalidArgument, message: "a lease TTL must be at least 1 second, not \(ttlSeconds)")
        }
        let request = WireLeaseGrantRequest(TTL: WireInt64(ttlSeconds), ID: id.map { WireInt64($0.rawValue) })
        // Sent again after an unknown outcome only when etcd picks the ID: a grant that landed
        // unseen leaves a lease nobody uses, which holds no keys and expires after its TTL. With a
        // chosen ID a second grant would fail with "lease already exists".
        let response = try await call(
            "/v3/lease/grant", request, as: WireLeaseGrantResponse.self, retry: id == nil ? .idempotent : .onlyIfNotSent,
            timeout: timeout)
        if let error = response.error, !error.isEmpty {
            throw EtcdError(code: .server, message: error)
        }
        let leaseID = response.ID.orZero
        guard leaseID != 0 else { throw EtcdError(code: .invalidResponse, message: "etcd granted no lease ID") }
        return LeaseGrant(header: response.header.model, id: LeaseID(leaseID), ttlSeconds: response.TTL.orZero)
    }

    /// Revokes a lease, deleting every key attached to it at once.
    ///
    /// Retried after a connection failure; if an earlier attempt already revoked it, this throws
    /// `.leaseNotFound`, which callers that only want the lease gone can treat as success.
    ///
    /// - Throws: ``EtcdError`` `.leaseNotFound`, `.unavailable`, `.timeout`, `.cancelled`.
    public func revokeLease(_ id: LeaseID, timeout: Duration? = nil) async throws -> ResponseHeader {
        let response = try await call(
            "/v3/lease/revoke", WireLeaseIDRequest(ID: WireInt64(id.rawValue)), as: WireLeaseRevokeResponse.self,
            retry: .idempotent, timeout: timeout)
        return response.header.model
    }

    /// Renews a lease once: its TTL starts again from when etcd handles the request.
    ///
    /// One POST per keepalive (etcd's gateway only honours the first message of a streamed body).
    /// Retried after a connection failure, since renewing twice is harmless.
    ///
    /// - Throws: ``EtcdError`` `.leaseNotFound` when the lease expired or was revoked,
    ///   `.unavailable`, `.timeout`, `.cancelled`.
    public func keepAliveOnce(_ id: LeaseID, timeout: Duration? = nil) async throws -> LeaseKeepAlive {
        let response = try await call(
            "/v3/lease/keepalive", WireLeaseIDRequest(ID: WireInt64(id.rawValue)),
            as: WireLeaseKeepAliveStreamMessage.self, retry: .idempotent, timeout: timeout)
        if let error = response.error {
            throw WireErrorMapping.error(grpcStatus: error.grpc_code, message: error.message ?? "keepalive failed")
        }
        guard let result = response.result else {
            throw EtcdError(code: .invalidResponse, message: "a keepalive answer had neither result nor error")
        }
        let ttl = result.TTL.orZero
        // etcd answers a keepalive for a gone lease with no TTL rather than an error.
        guard ttl > 0 else { throw EtcdError(code: .leaseNotFound, message: "lease \(id) has expired or was revoked") }
        return LeaseKeepAlive(header: result.header.model, id: id, ttlSeconds: ttl)
    }

    /// Asks how long a lease has left and, optionally, which keys are attached to it.
    ///
    /// A lease that expired or never existed is not an error: ``LeaseTimeToLive/isExpired`` is `true`.
    ///
    /// - Throws: ``EtcdError`` `.unavailable`, `.timeout`, `.cancelled`.
    public func timeToLive(_ id: LeaseID, includeKeys: Bool = false, timeout: Duration? = nil) async throws
        -> LeaseTimeToLive
    {
        let request = WireLeaseTimeToLiveRequest(ID: WireInt64(id.rawValue), keys: includeKeys ? true : nil)
        let response = try await call(
            "/v3/lease/timetolive", request, as: WireLeaseTimeToLiveResponse.self, retry: .idempotent,
            timeout: timeout)
        return LeaseTimeToLive(
            header: response.header.model, id: id, ttlSeconds: response.TTL.orZero,
            grantedTTLSeconds: response.grantedTTL.orZero, keys: (response.keys ?? []).map { EtcdKey(bytes: $0.bytes) })
    }

    /// Lists every lease in the cluster.
    ///
    /// - Throws: ``EtcdError`` `.unavailable`, `.timeout`, `.cancelled`.
    public func leases(timeout: Duration? = nil) async throws -> LeaseList {
        let response = try await call(
            "/v3/lease/leases", WireEmptyRequest(), as: WireLeaseLeasesResponse.self, retry: .idempotent,
            timeout: timeout)
        return LeaseList(header: response.header.model, ids: (response.leases ?? []).map { LeaseID($0.ID.orZero) })
    }
}
