extension EtcdClient {
    /// Lists the cluster's members.
    ///
    /// - Throws: ``EtcdError`` `.unavailable`, `.timeout`, `.cancelled`.
    public func members(timeout: Duration? = nil) async throws -> MemberList {
        let response = try await call(
            "/v3/cluster/member/list", WireEmptyRequest(), as: WireMemberListResponse.self, retry: .idempotent,
            timeout: timeout)
        let members = (response.members ?? []).map {
            Member(
                id: $0.ID.orZero, name: $0.name ?? "", peerURLs: $0.peerURLs ?? [], clientURLs: $0.clientURLs ?? [],
                isLearner: $0.isLearner ?? false)
        }
        return MemberList(header: response.header.model, members: members)
    }

    /// Asks one member for its status (leader, revision, version).
    ///
    /// The member answers from its own state, even when it has no leader.
    ///
    /// - Parameter endpointIndex: which configured endpoint to ask, by position; `nil` asks
    ///   whichever member calls currently go to. A pinned call is not retried elsewhere.
    /// - Throws: ``EtcdError`` `.invalidArgument` (no such endpoint), `.unavailable`, `.timeout`, `.cancelled`.
    public func status(endpointIndex: Int? = nil, timeout: Duration? = nil) async throws -> MemberStatus {
        if let endpointIndex, !endpoints.indices.contains(endpointIndex) {
            throw EtcdError(code: .invalidArgument, message: "there is no endpoint number \(endpointIndex)")
        }
        let response = try await call(
            "/v3/maintenance/status", WireEmptyRequest(), as: WireStatusResponse.self, retry: .idempotent,
            timeout: timeout, endpoint: endpointIndex, requiresLeader: false)
        return MemberStatus(
            header: response.header.model, version: response.version ?? "", databaseSize: response.dbSize.orZero,
            leaderID: response.leader.orZero, raftIndex: response.raftIndex.orZero,
            raftTerm: response.raftTerm.orZero, errors: response.errors ?? [])
    }

    /// Asks the leader to hand leadership to another voting member (etcd's MoveLeader).
    ///
    /// Only the leader can do this, so the request goes to the endpoint given, which should be
    /// the current leader's (see ``status(endpointIndex:timeout:)``); it is not retried elsewhere.
    /// It returns once the target has become leader.
    ///
    /// - Parameters:
    ///   - memberID: the member to make leader (its ``Member/id``).
    ///   - endpointIndex: the position of the current leader's endpoint in the configuration.
    /// - Throws: ``EtcdError`` `.invalidArgument` (no such endpoint, or the target is not a voting
    ///   member), `.failedPrecondition` (the member asked is not the leader),
    ///   `.unavailable`, `.timeout`, `.cancelled`.
    public func moveLeader(to memberID: UInt64, endpointIndex: Int, timeout: Duration? = nil) async throws {
        guard endpoints.indices.contains(endpointIndex) else {
            throw EtcdError(code: .invalidArgument, message: "there is no endpoint number \(endpointIndex)")
        }
        _ = try await call(
            "/v3/maintenance/transfer-leadership", WireMoveLeaderRequest(targetID: WireUInt64(memberID)),
            as: WireMoveLeaderResponse.self, retry: .onlyIfNotSent, timeout: timeout, endpoint: endpointIndex,
            requiresLeader: false)
    }
}
