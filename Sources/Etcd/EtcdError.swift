/// A failure of an etcd operation: a stable ``Code`` to match on, plus what etcd said.
///
/// Match on the code, never on the message text:
/// ```swift
/// catch let error as EtcdError where error.code == .leaseNotFound { … }
/// ```
public struct EtcdError: Error, Sendable, CustomStringConvertible {
    /// A stable, bounded classification of the failure; safe to use as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case invalidEndpoint = "invalid_endpoint"
            case invalidArgument = "invalid_argument"
            case unavailable
            case noLeader = "no_leader"
            case timeout
            case cancelled
            case clientShutdown = "client_shutdown"
            case invalidResponse = "invalid_response"
            case leaseNotFound = "lease_not_found"
            case compacted
            case futureRevision = "future_revision"
            case authenticationFailed = "authentication_failed"
            case unauthenticated
            case permissionDenied = "permission_denied"
            case failedPrecondition = "failed_precondition"
            case resourceExhausted = "resource_exhausted"
            case watchCanceled = "watch_canceled"
            case server
            case tlsFailure = "tls_failure"
        }

        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        /// An endpoint URL could not be parsed or resolved.
        public static var invalidEndpoint: Self { Self(.invalidEndpoint) }
        /// The request was malformed (for example an empty key); etcd's code 3 or a client check.
        public static var invalidArgument: Self { Self(.invalidArgument) }
        /// No member could be reached, or a connection broke mid-request.
        public static var unavailable: Self { Self(.unavailable) }
        /// The member has no Raft leader; the request was not applied.
        public static var noLeader: Self { Self(.noLeader) }
        /// No answer arrived before the call's deadline.
        public static var timeout: Self { Self(.timeout) }
        /// The calling task was cancelled.
        public static var cancelled: Self { Self(.cancelled) }
        /// The client was shut down.
        public static var clientShutdown: Self { Self(.clientShutdown) }
        /// etcd's answer could not be understood.
        public static var invalidResponse: Self { Self(.invalidResponse) }
        /// The lease does not exist or has already expired.
        public static var leaseNotFound: Self { Self(.leaseNotFound) }
        /// The requested revision has been compacted away; see ``EtcdError/compactRevision``.
        public static var compacted: Self { Self(.compacted) }
        /// The requested revision is newer than the store's.
        public static var futureRevision: Self { Self(.futureRevision) }
        /// The user name or password was wrong.
        public static var authenticationFailed: Self { Self(.authenticationFailed) }
        /// The auth token is missing, invalid or expired, or a user is required.
        public static var unauthenticated: Self { Self(.unauthenticated) }
        /// The user may not access that key range.
        public static var permissionDenied: Self { Self(.permissionDenied) }
        /// etcd refused the request in its current state (gRPC FailedPrecondition).
        public static var failedPrecondition: Self { Self(.failedPrecondition) }
        /// etcd is overloaded or the request is too large (gRPC ResourceExhausted).
        public static var resourceExhausted: Self { Self(.resourceExhausted) }
        /// etcd cancelled a watch for a reason other than compaction.
        public static var watchCanceled: Self { Self(.watchCanceled) }
        /// TLS could not be set up or failed: an unreadable or malformed certificate or key, a key
        /// that does not match its certificate, a member whose certificate does not verify (unknown
        /// CA, wrong name, expired), a member that refused ours, or a member that does not speak
        /// TLS. The message carries OpenSSL's reason. The client never falls back to plaintext.
        public static var tlsFailure: Self { Self(.tlsFailure) }
        /// Any other error etcd reported; see ``EtcdError/grpcStatus``.
        public static var server: Self { Self(.server) }

        /// A short, bounded string such as `lease_not_found`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// Details for humans: etcd's message or the client's explanation. Never match on it.
    public var message: String
    /// The gRPC status code etcd's gateway reported, if the error came from etcd.
    public var grpcStatus: Int?
    /// For ``Code/compacted``: the oldest revision still available.
    public var compactRevision: Revision?
    /// Whether a write may have been applied although the call failed: the request may have
    /// reached etcd before the connection broke or the deadline passed, or etcd answered that it
    /// stopped waiting for a proposal it had made ("request timed out", "server stopped", and
    /// errors etcd does not classify). `false` for refusals etcd answered with (no leader,
    /// invalid argument, lease not found …), which mean the request was not applied.
    public var mayHaveBeenApplied: Bool
    /// The lower-level error behind this one, if any.
    public var underlying: (any Error & Sendable)?

    /// Creates an error; the client builds these for you.
    public init(
        code: Code, message: String, grpcStatus: Int? = nil, compactRevision: Revision? = nil,
        mayHaveBeenApplied: Bool = false, underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.message = message
        self.grpcStatus = grpcStatus
        self.compactRevision = compactRevision
        self.mayHaveBeenApplied = mayHaveBeenApplied
        self.underlying = underlying
    }

    public var description: String { "etcd error \(code): \(message)" }
}
