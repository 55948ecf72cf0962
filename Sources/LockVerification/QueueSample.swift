/// One key of a lock's queue, as a sample read it from etcd.
public struct QueueKey: Sendable, Hashable {
    /// What an entry of the queue asks for.
    public enum Role: Sendable, Hashable {
        /// A mutex's or a semaphore's entry (one kind of entry per queue).
        case entry
        /// A read/write lock's reader (`<prefix>read/…`).
        case reader
        /// A read/write lock's writer (`<prefix>write/…`).
        case writer
    }

    /// The lease the key is attached to (its owner's session).
    public var lease: Int64
    /// Its create revision: its place in the queue and, at the head, the holder's token.
    public var createRevision: Int64
    /// What it asks for.
    public var role: Role
    /// The key's value when the sampler read values: for a run through the lock service, the
    /// owner text the client sent with its acquire, which names the attempt
    /// (``LockAttempt/ownerTag``); `nil` otherwise.
    public var owner: String?

    public init(lease: Int64, createRevision: Int64, role: Role = .entry, owner: String? = nil) {
        self.lease = lease
        self.createRevision = createRevision
        self.role = role
        self.owner = owner
    }
}

/// A lock's queue read from etcd during the run: which keys were there, at some moment
/// between `sent` and `received` (monotonic nanoseconds, the clients' clock).
public struct QueueSample: Sendable, Hashable {
    /// Which of the run's locks.
    public var lock: Int
    /// When the read was sent.
    public var sent: UInt64
    /// When its answer came back.
    public var received: UInt64
    /// The keys, head first.
    public var keys: [QueueKey]

    public init(lock: Int, sent: UInt64, received: UInt64, keys: [QueueKey]) {
        self.lock = lock
        self.sent = sent
        self.received = received
        self.keys = keys.sorted { $0.createRevision < $1.createRevision }
    }
}

/// A fault as the nemesis injected it: what, on whom, and when it began and was healed.
public struct InjectedFault: Sendable, Hashable, CustomStringConvertible {
    /// What kind of fault.
    public var kind: FaultKind
    /// The member (1-based) or client (0-based) it hit; for link faults, the client.
    public var target: Int
    /// For link faults, the member (1-based) at the other end of the link; 0 otherwise.
    public var member: Int
    /// When it was injected and healed (monotonic nanoseconds).
    public var start: UInt64, end: UInt64

    public init(kind: FaultKind, target: Int, member: Int = 0, start: UInt64, end: UInt64) {
        self.kind = kind
        self.target = target
        self.member = member
        self.start = start
        self.end = max(start, end)
    }

    public var description: String {
        if kind.targetsMember { return "\(kind.rawValue) member \(target)" }
        if kind.targetsLink { return "\(kind.rawValue) client \(target)-member \(member)" }
        if kind.targetsReplica { return "\(kind.rawValue) replica \(target)" }
        return "\(kind.rawValue) client \(target)"
    }
}

/// One process of one client slot.
public struct ClientProcess: Sendable, Hashable, CustomStringConvertible {
    /// The client slot.
    public var client: Int
    /// Which process of the slot.
    public var incarnation: Int

    public init(client: Int, incarnation: Int) {
        self.client = client
        self.incarnation = incarnation
    }

    public var description: String { "\(client).\(incarnation)" }
}

/// How long the liveness checks allow things to take (nanoseconds).
public struct LivenessRules: Sendable, Hashable {
    /// The clients' session TTL: a dead or frozen owner's keys live this long.
    public var ttl: UInt64
    /// How long the cluster and the clients take to recover from a fault: a leader election,
    /// and a client noticing a silent member and moving on (probe interval plus timeout).
    public var recovery: UInt64
    /// Slack for a loaded machine, and the longest stall that needs no fault to explain it.
    public var margin: UInt64
    /// How long a key may outlive its owner's last attempt on the lock: the withdrawal after a
    /// failed `lock()` is retried while requests time out.
    public var withdrawalGrace: UInt64

    public init(ttl: Duration, recovery: Duration, margin: Duration, withdrawalGrace: Duration) {
        self.ttl = ttl.nanoseconds
        self.recovery = recovery.nanoseconds
        self.margin = margin.nanoseconds
        self.withdrawalGrace = withdrawalGrace.nanoseconds
    }
}

extension Duration {
    /// The duration in whole nanoseconds (non-negative durations only).
    var nanoseconds: UInt64 {
        UInt64(max(0, components.seconds)) * 1_000_000_000 + UInt64(max(0, components.attoseconds) / 1_000_000_000)
    }
}

/// Seconds with two decimals, for reports.
func seconds(_ nanoseconds: UInt64) -> String { String(format2: Double(nanoseconds) / 1e9) }
