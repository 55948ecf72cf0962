extension EtcdClient {
    /// Everything an ``EtcdClient`` needs to know, with documented defaults.
    public struct Configuration: Sendable {
        /// The members' client URLs, e.g. `["http://127.0.0.1:2379"]`. Plain `host:port` is read as
        /// `http://host:port`. Calls go to one member at a time and move on when it fails.
        public var endpoints: [String]
        /// The default deadline of one call, retries included (default 5 s). Each call can override it.
        public var requestTimeout: Duration
        /// The user and password for etcd's auth, or `nil` when auth is off.
        public var credentials: Credentials?
        /// How `https` members are trusted and which certificate the client presents; `nil` uses
        /// the system's trusted CAs and no client certificate. When set, endpoints without a
        /// scheme are `https`, and an `http://` endpoint is refused (never a silent fallback to
        /// plaintext).
        public var tls: TLS?
        /// How failed calls are retried.
        public var retry: RetryPolicy
        /// The most keep-alive connections to one member for unary calls (default 64); further
        /// calls wait for a free connection. Watches have connections of their own.
        public var maximumConnectionsPerEndpoint: Int
        /// How long a member that failed is avoided before it is tried first again (default 2 s).
        public var endpointCooldown: Duration
        /// How long a member may take to *start* answering a call that is safe to send again
        /// before the call moves on to the next member (default 750 ms). A paused or partitioned
        /// member accepts connections and never answers; without this bound it would cost a
        /// call's whole deadline. Applies to reads and idempotent writes only: a write that must
        /// not be sent twice waits for its answer until the call's deadline.
        public var memberResponseTimeout: Duration
        /// Where the client logs; disabled by default.
        public var logger: EtcdLogger
        /// How long watch streams on a member may stay silent before the client checks that the
        /// member still answers (default 3 s; `nil` turns the check off). A member frozen by a
        /// pause keeps its connections open but sends nothing; without the check a watch on it
        /// would wait until it woke up.
        public var memberProbeInterval: Duration?
        /// How long that check may take before the member's watches resume elsewhere (default 2 s).
        public var memberProbeTimeout: Duration
        /// Whether and how coalescible transactions are merged under load (on by default); see
        /// ``EtcdClient/txn(_:coalescingGroup:retry:timeout:)``.
        public var txnCoalescing: TxnCoalescing

        /// A configuration for `endpoints` with the defaults.
        public init(
            endpoints: [String] = ["http://127.0.0.1:2379"],
            requestTimeout: Duration = .seconds(5),
            credentials: Credentials? = nil,
            retry: RetryPolicy = RetryPolicy(),
            maximumConnectionsPerEndpoint: Int = 64,
            endpointCooldown: Duration = .seconds(2),
            memberResponseTimeout: Duration = .milliseconds(750),
            logger: EtcdLogger = .disabled,
            memberProbeInterval: Duration? = .seconds(3),
            memberProbeTimeout: Duration = .seconds(2),
            txnCoalescing: TxnCoalescing = TxnCoalescing(),
            tls: TLS? = nil
        ) {
            self.tls = tls
            self.txnCoalescing = txnCoalescing
            self.memberProbeInterval = memberProbeInterval
            self.memberProbeTimeout = memberProbeTimeout
            self.endpoints = endpoints
            self.requestTimeout = requestTimeout
            self.credentials = credentials
            self.retry = retry
            self.maximumConnectionsPerEndpoint = maximumConnectionsPerEndpoint
            self.endpointCooldown = endpointCooldown
            self.memberResponseTimeout = memberResponseTimeout
            self.logger = logger
        }

        /// A user name and password for etcd's auth.
        public struct Credentials: Sendable, Hashable {
            /// The etcd user.
            public var name: String
            /// The user's password.
            public var password: String

            /// Credentials for `name`.
            public init(name: String, password: String) {
                self.name = name
                self.password = password
            }
        }

        /// Bounds on retrying a failed call.
        ///
        /// A call is retried only when that cannot apply a write twice: reads, idempotent writes,
        /// and writes whose request provably never reached etcd (the connection was refused) or that
        /// etcd refused before applying them (no leader). Every retry stays within the call's
        /// deadline. After every member was tried once, retries wait with jittered exponential backoff.
        public struct RetryPolicy: Sendable, Hashable {
            /// The most attempts per call, the first included (default 6).
            public var maximumAttempts: Int
            /// The first backoff (default 25 ms); it doubles up to ``maximumBackoff``.
            public var initialBackoff: Duration
            /// The longest backoff (default 500 ms). Each wait is drawn uniformly from half of it to all of it.
            public var maximumBackoff: Duration

            /// A policy with the given bounds.
            public init(
                maximumAttempts: Int = 6, initialBackoff: Duration = .milliseconds(25),
                maximumBackoff: Duration = .milliseconds(500)
            ) {
                self.maximumAttempts = maximumAttempts
                self.initialBackoff = initialBackoff
                self.maximumBackoff = maximumBackoff
            }

            /// The jittered wait before retry number `retry` (1-based).
            func backoff(beforeRetry retry: Int) -> Duration {
                var ceiling = initialBackoff
                for _ in 1..<max(1, retry) where ceiling < maximumBackoff { ceiling *= 2 }
                ceiling = min(ceiling, maximumBackoff)
                let nanoseconds = max(1, Int64(ceiling / .nanoseconds(1)))
                return .nanoseconds(Int64.random(in: (nanoseconds / 2)...nanoseconds))
            }
        }
    }

    /// How coalescible transactions are merged when several wait: up to `maximumInFlight` go out
    /// alone (no added latency on an idle client); those submitted meanwhile wait and leave
    /// together as one transaction when a send completes.
    public struct TxnCoalescing: Sendable, Hashable {
        /// Whether to merge at all; when `false`, coalescible transactions are sent alone at once.
        public var isEnabled: Bool
        /// How many coalescible sends may be in flight before further ones wait to be merged
        /// (default 2).
        public var maximumInFlight: Int
        /// The most compares, and the most operations, in one merged transaction (default 128,
        /// etcd's default `--max-txn-ops`; lower it if the cluster's limit is lower).
        public var maximumOperations: Int

        /// A policy with the given bounds.
        public init(isEnabled: Bool = true, maximumInFlight: Int = 2, maximumOperations: Int = 128) {
            self.isEnabled = isEnabled
            self.maximumInFlight = maximumInFlight
            self.maximumOperations = maximumOperations
        }

        /// Never merge.
        public static let disabled = TxnCoalescing(isEnabled: false)
    }

    /// Whether a write may be sent again after a failure that leaves its fate unknown.
    public enum RetryRule: Sendable, Hashable {
        /// Retry only when etcd provably did not receive or apply the request (the default for writes).
        case onlyIfNotSent
        /// The caller asserts that applying the request twice is harmless (for example a txn whose
        /// compare fails the second time); retry after any connection failure.
        case idempotent
    }
}
