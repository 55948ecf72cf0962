import Testing

@testable import Etcd

@Suite("wire decoding of real gateway answers", .timeLimit(.minutes(1)))
struct WireDecodingTests {
    private func decode<T: Decodable>(_ type: T.Type, _ json: String) throws -> T {
        try WireCoding.decodeResponse(type, from: GoldenJSON.bytes(json), path: "/test")
    }

    @Test("a range answer decodes int64 strings and base64 keys and values")
    func range() throws {
        let result = RangeResult(wire: try decode(WireRangeResponse.self, GoldenJSON.range))
        #expect(result.header.revision == 2)
        #expect(result.header.clusterID == 324_952_591_200_643_719)
        #expect(result.header.memberID == 3_319_814_642_761_637_952)
        #expect(result.count == 1)
        let keyValue = try #require(result.keyValues.first)
        #expect(keyValue.key == "a/x")
        #expect(keyValue.valueString == "v")
        #expect(keyValue.createRevision == 2 && keyValue.modRevision == 2 && keyValue.version == 1)
        #expect(keyValue.lease == nil)
    }

    @Test("an empty range has no kvs and no count: both decode as empty")
    func emptyRange() throws {
        let result = RangeResult(wire: try decode(WireRangeResponse.self, GoldenJSON.emptyRange))
        #expect(result.keyValues.isEmpty)
        #expect(result.count == 0)
        #expect(!result.hasMore)
    }

    @Test("a failed txn has no `succeeded`: it decodes as false with the failure branch's results")
    func failedTxn() throws {
        let result = try TxnResult(wire: try decode(WireTxnResponse.self, GoldenJSON.failedTxn))
        #expect(!result.succeeded)
        guard case .range(let range) = try #require(result.responses.first) else {
            Issue.record("expected a range response")
            return
        }
        #expect(range.keyValues.first?.key == "a/x")
        #expect(range.header.revision == 2)
    }

    @Test("a delete with previous values lists them")
    func deleteWithPrevious() throws {
        let result = DeleteResult(wire: try decode(WireDeleteRangeResponse.self, GoldenJSON.deleteWithPrevious))
        #expect(result.deletedCount == 1)
        #expect(result.previous.map(\.valueString) == ["v"])
    }

    @Test("lease answers: grant, keepalive of a gone lease without TTL, time-to-live -1")
    func leases() throws {
        let grant = try decode(WireLeaseGrantResponse.self, GoldenJSON.leaseGrant)
        #expect(grant.ID.orZero == 2_324_035_531_379_548_681)
        #expect(grant.TTL.orZero == 5)
        let alive = try decode(WireLeaseKeepAliveStreamMessage.self, GoldenJSON.keepAliveAlive)
        #expect(alive.result?.TTL.orZero == 30)
        let gone = try decode(WireLeaseKeepAliveStreamMessage.self, GoldenJSON.keepAliveGone)
        #expect(gone.result?.TTL == nil)
        #expect(gone.result?.TTL.orZero == 0)
        let ttl = try decode(WireLeaseTimeToLiveResponse.self, GoldenJSON.timeToLive)
        #expect(ttl.keys?.map { EtcdKey(bytes: $0.bytes) } == ["a/2"])
        #expect(ttl.grantedTTL.orZero == 30)
        let expired = try decode(WireLeaseTimeToLiveResponse.self, GoldenJSON.timeToLiveGone)
        #expect(expired.TTL.orZero == -1)
    }

    @Test("member list and status use uint64 strings and camelCase names")
    func cluster() throws {
        let list = try decode(WireMemberListResponse.self, GoldenJSON.memberList)
        #expect(list.members?.first?.ID.orZero == 3_319_814_642_761_637_952)
        #expect(list.members?.first?.clientURLs == ["http://127.0.0.1:23790"])
        #expect(list.header.model.revision == 0)
        let status = try decode(WireStatusResponse.self, GoldenJSON.status)
        #expect(status.leader.orZero == status.header.model.memberID)
        #expect(status.version == "3.4.23")
    }

    @Test("a PUT event has no `type`; a DELETE event says so and carries the previous value")
    func watchEvents() throws {
        guard case .events(let puts) = try WatchMessage(line: GoldenJSON.bytes(GoldenJSON.watchPut)) else {
            Issue.record("expected events")
            return
        }
        #expect(puts.map(\.kind) == [.put])
        #expect(puts.first?.revision == 4)
        guard case .events(let deletes) = try WatchMessage(line: GoldenJSON.bytes(GoldenJSON.watchDelete)) else {
            Issue.record("expected events")
            return
        }
        #expect(deletes.map(\.kind) == [.delete])
        #expect(deletes.first?.revision == 6)
        #expect(deletes.first?.keyValue.createRevision == 0)
        #expect(deletes.first?.previous?.valueString == "w")
    }

    @Test("watch control messages: created, compacted, bad token, in-band no leader")
    func watchControl() throws {
        guard case .created(let revision) = try WatchMessage(line: GoldenJSON.bytes(GoldenJSON.watchCreated)) else {
            Issue.record("expected created")
            return
        }
        #expect(revision == 2)
        guard case .failed(let compacted) = try WatchMessage(line: GoldenJSON.bytes(GoldenJSON.watchCompacted)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(compacted.code == .compacted)
        #expect(compacted.compactRevision == 5)
        guard case .failed(let badToken) = try WatchMessage(line: GoldenJSON.bytes(GoldenJSON.watchBadToken)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(badToken.code == .unauthenticated)
        #expect(badToken.message == "etcdserver: invalid auth token")
        guard case .failed(let noLeader) = try WatchMessage(line: GoldenJSON.bytes(GoldenJSON.watchNoLeader)) else {
            Issue.record("expected a failure")
            return
        }
        #expect(noLeader.code == .noLeader)
        #expect(noLeader.grpcStatus == 14)
    }

    @Test(
        "every gateway error body maps to a stable code and keeps etcd's message",
        arguments: [
            (GoldenJSON.errorLeaseNotFound, EtcdError.Code.leaseNotFound, 5),
            (GoldenJSON.errorCompacted, .compacted, 11),
            (GoldenJSON.errorFuture, .futureRevision, 11),
            (GoldenJSON.errorPermission, .permissionDenied, 7),
            (GoldenJSON.errorBadToken, .unauthenticated, 16),
            (GoldenJSON.errorWrongPassword, .authenticationFailed, 3),
            (GoldenJSON.errorNoLeader, .noLeader, 14),
            (GoldenJSON.errorEmptyKey, .invalidArgument, 3),
        ])
    func errorBodies(json: String, code: EtcdError.Code, grpcStatus: Int) {
        let error = WireErrorMapping.error(httpStatus: 400, body: GoldenJSON.bytes(json))
        #expect(error.code == code)
        #expect(error.grpcStatus == grpcStatus)
        #expect(error.message.hasPrefix("etcdserver: "))
        #expect(!error.mayHaveBeenApplied)
    }

    @Test(
        "etcd answers that leave a write's outcome open are marked so (and refusals are not)",
        arguments: [
            (14, "etcdserver: request timed out", EtcdError.Code.timeout, true),
            (14, "etcdserver: request timed out, possibly due to previous leader failure", .timeout, true),
            (14, "etcdserver: server stopped", .unavailable, true),
            (14, "transport is closing", .unavailable, true),
            (14, "etcdserver: leader changed", .unavailable, true),
            (4, "context deadline exceeded", .timeout, true),
            (1, "context canceled", .server, true),
            (2, "something etcd does not classify", .server, true),
            (14, "etcdserver: no leader", .noLeader, false),
            (14, "etcdserver: unhealthy cluster", .unavailable, false),
            (8, "etcdserver: too many requests", .resourceExhausted, false),
            (9, "etcdserver: not leader", .failedPrecondition, false),
        ])
    func ambiguousAnswers(grpcStatus: Int, message: String, code: EtcdError.Code, ambiguous: Bool) {
        let body = #"{"error":"\#(message)","code":\#(grpcStatus),"message":"\#(message)"}"#
        let error = WireErrorMapping.error(httpStatus: 503, body: GoldenJSON.bytes(body))
        #expect(error.code == code)
        #expect(error.mayHaveBeenApplied == ambiguous)
    }

    @Test("a non-200 answer that is not etcd's own error (a proxy's page, a bodiless 503) may have been applied")
    func foreignErrorAnswers() {
        let page = WireErrorMapping.error(httpStatus: 502, body: GoldenJSON.bytes("<html>Bad Gateway</html>"))
        #expect(page.code == .invalidResponse && page.mayHaveBeenApplied)
        let bodiless = WireErrorMapping.error(httpStatus: 503, body: [])
        #expect(bodiless.code == .unavailable && bodiless.mayHaveBeenApplied)
    }

    @Test("etcd 3.4's refusal of a client certificate with a CN on its gateway (auth on) is tls_failure, not applied")
    func commonNameRefusal() {
        // Captured from etcd 3.4.23 (client-cert-auth, auth enabled, client certificate CN=etcdlock-client).
        let body = "CommonName of client sending a request against gateway will be ignored and not used as expected\n"
        let error = WireErrorMapping.error(httpStatus: 400, body: GoldenJSON.bytes(body))
        #expect(error.code == .tlsFailure)
        #expect(!error.mayHaveBeenApplied)
        #expect(error.message.contains("without a CN"))
    }

    @Test("a non-JSON error body becomes invalid_response with the status, not a crash")
    func nonJSONError() {
        let error = WireErrorMapping.error(httpStatus: 404, body: GoldenJSON.bytes("404 page not found"))
        #expect(error.code == .invalidResponse)
        #expect(error.message.contains("404"))
    }

    @Test("int64 fields accept numbers as well as strings; garbage is invalid_response")
    func int64Shapes() throws {
        let numeric = try decode(WireLeaseGrantResponse.self, #"{"ID":42,"TTL":"7"}"#)
        #expect(numeric.ID.orZero == 42 && numeric.TTL.orZero == 7)
        #expect(throws: EtcdError.self) { try decode(WireLeaseGrantResponse.self, #"{"ID":"4x2"}"#) }
        #expect(throws: EtcdError.self) { try decode(WireRangeResponse.self, #"{"kvs":[{"key":"***"}]}"#) }
        #expect(throws: EtcdError.self) { try decode(WireRangeResponse.self, "not json") }
    }

    @Test("requests encode int64 as strings, bytes as base64, enums by name, and omit defaults")
    func requestEncoding() throws {
        var request = RangeRequest(.prefix("a/"), limit: 1, sort: .init(.createRevision, .descending))
        request.maxCreateRevision = 9
        let json = String(decoding: try WireCoding.encode(request.wire), as: UTF8.self)
        #expect(json.contains(#""key":"YS8=""#))
        #expect(json.contains(#""range_end":"YTA=""#))
        #expect(json.contains(#""limit":"1""#))
        #expect(json.contains(#""max_create_revision":"9""#))
        #expect(json.contains(#""sort_target":"CREATE""#) && json.contains(#""sort_order":"DESCEND""#))
        #expect(!json.contains("serializable") && !json.contains("keys_only"))
        let compare = Txn.Compare.createRevision(of: "k", .equal, .zero).wire
        let compareJSON = String(decoding: try WireCoding.encode(compare), as: UTF8.self)
        #expect(compareJSON.contains(#""target":"CREATE""#) && compareJSON.contains(#""create_revision":"0""#))
    }
}
