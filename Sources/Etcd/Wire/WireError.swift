import Foundation

/// The body etcd's gateway sends with a non-200 status, and the one mapping from gRPC codes
/// and messages to ``EtcdError/Code``. No other code looks at status numbers or message text.
struct WireErrorBody: Decodable {
    var error: String?
    var message: String?
    var code: Int?
}

enum WireErrorMapping {
    /// The typed error for a gateway error with gRPC status `grpcStatus` and `message`.
    static func error(grpcStatus: Int?, message: String) -> EtcdError {
        EtcdError(
            code: code(grpcStatus: grpcStatus, message: message), message: message, grpcStatus: grpcStatus,
            mayHaveBeenApplied: mayHaveBeenApplied(grpcStatus: grpcStatus, message: message))
    }

    /// Whether etcd's answer leaves the outcome of a write open.
    ///
    /// Most errors are refusals before the request was proposed to Raft (bad argument, no
    /// leader, lease not found …). But when a proposal was made and etcd stopped waiting for
    /// it — "request timed out" (the leader may be paused or gone, and may still commit it),
    /// "server stopped", a deadline or cancellation inside etcd — or the error is one etcd
    /// does not classify, the write may still be applied.
    private static func mayHaveBeenApplied(grpcStatus: Int?, message: String) -> Bool {
        switch grpcStatus {
        case 1, 2, 4, 13: true  // Canceled, Unknown, DeadlineExceeded, Internal
        // Unavailable: "no leader" and "unhealthy cluster" are refusals before proposing; anything
        // else ("timed out", "server stopped", "transport is closing", "leader changed") may
        // follow a proposal.
        case 14: !(message.contains("no leader") || message.contains("unhealthy cluster"))
        case nil: true
        default: false
        }
    }

    /// The typed error for a non-200 response, from its body (or its status when the body is not JSON).
    static func error(httpStatus: Int, body: [UInt8]) -> EtcdError {
        if let wire = try? WireCoding.decode(WireErrorBody.self, from: body), wire.code != nil || wire.message != nil {
            return error(grpcStatus: wire.code, message: wire.message ?? wire.error ?? "HTTP \(httpStatus)")
        }
        let text = String(decoding: body.prefix(200), as: UTF8.self)
        if httpStatus == 400, text.hasPrefix(commonNameRefusal) {
            // etcd 3.4 with auth on refuses, before doing anything, every gateway request whose
            // client certificate names a user in its Common Name (the gateway cannot pass it on).
            return EtcdError(
                code: .tlsFailure,
                message: "etcd refuses gateway requests whose client certificate has a Common Name while its auth is "
                    + "on; use a client certificate without a CN, and a user and password (etcd said: \(text))")
        }
        let code: EtcdError.Code = httpStatus == 503 ? .unavailable : .invalidResponse
        // Not etcd's own error (a proxy's page, a bodiless 503): nothing says the request was
        // refused before etcd saw it.
        return EtcdError(code: code, message: "HTTP \(httpStatus) from etcd: \(text)", mayHaveBeenApplied: true)
    }

    /// The start of etcd 3.4's plain-text answer to a gateway request with a client certificate CN
    /// while auth is on.
    static let commonNameRefusal = "CommonName of client sending a request against gateway"

    /// The typed error for a watch that etcd cancelled with `reason` (e.g. a bad token).
    static func watchCancellation(reason: String) -> EtcdError {
        // The reason reads "rpc error: code = Unauthenticated desc = etcdserver: invalid auth token".
        let status: Int?
        if reason.contains("code = Unauthenticated") {
            status = 16
        } else if reason.contains("code = PermissionDenied") {
            status = 7
        } else {
            status = nil
        }
        let description = reason.range(of: "desc = ").map { String(reason[$0.upperBound...]) } ?? reason
        var mapped = error(grpcStatus: status, message: description)
        if status == nil { mapped.code = .watchCanceled }
        return mapped
    }

    private static func code(grpcStatus: Int?, message: String) -> EtcdError.Code {
        switch grpcStatus {
        case 3:
            if message.contains("authentication failed") { return .authenticationFailed }
            if message.contains("user name is empty") { return .unauthenticated }
            return .invalidArgument
        case 4: return .timeout
        case 5 where message.contains("lease not found"): return .leaseNotFound
        case 7: return .permissionDenied
        case 8: return .resourceExhausted
        case 9: return .failedPrecondition
        case 11:
            if message.contains("compacted") { return .compacted }
            if message.contains("future revision") { return .futureRevision }
            return .invalidArgument
        case 14:
            if message.contains("no leader") { return .noLeader }
            if message.contains("timed out") { return .timeout }
            return .unavailable
        case 16: return .unauthenticated
        default: return .server
        }
    }
}
