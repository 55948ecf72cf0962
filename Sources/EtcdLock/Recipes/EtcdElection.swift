import Etcd

/// Leader election: one campaigner at a time is leader, in order of arrival; the leader
/// publishes a value that everyone can read or observe.
///
/// ```swift
/// let election = try EtcdElection("scheduler", session: session)
/// let leadership = try await election.campaign(value: "node-a:8080".utf8)
/// // … lead, fencing writes with leadership.token …
/// try await election.resign(leadership)
/// ```
///
/// Campaigning queues a key `/etcdlock/<namespace>/election/<name>/<lease-hex>` whose value is
/// the proposal. Unlike etcd's Go `Campaign`, the key is re-checked after every wait, so a
/// campaign whose session expired while waiting never reports leadership.
public struct EtcdElection: Sendable {
    /// The election's name.
    public let name: String
    /// The session whose lease keeps the campaign alive.
    public let session: EtcdSession
    let queue: LockQueue

    /// An election named `name` in `namespace`, campaigning through `session`.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    public init(_ name: String, session: EtcdSession, namespace: String = "default") throws {
        self.name = name
        self.session = session
        queue = try LockQueue(session: session, namespace: namespace, kind: .election, name: name)
    }

    /// An election over a given queue.
    init(name: String, session: EtcdSession, queue: LockQueue) {
        self.name = name
        self.session = session
        self.queue = queue
    }

    /// The key prefix under which campaigners queue.
    public var prefix: EtcdKey { queue.prefix }

    /// Proof of leadership, for ``proclaim(_:as:)`` and ``resign(_:)``.
    public struct Leadership: Sendable, Hashable {
        /// The leader's key.
        public var key: EtcdKey { lock.key }
        /// Strictly greater than every earlier leader's: fence the leader's writes with it.
        public var token: FencingToken { lock.token }
        let lock: LockGuard

        public static func == (lhs: Leadership, rhs: Leadership) -> Bool { lhs.key == rhs.key && lhs.token == rhs.token }

        public func hash(into hasher: inout Hasher) {
            hasher.combine(key)
            hasher.combine(token)
        }
    }

    /// A leader as observers see it.
    public struct Leader: Sendable, Hashable {
        /// The leader's key (its last segment is the leader's lease in hex).
        public var key: EtcdKey
        /// The leader's published value.
        public var value: [UInt8]
        /// The leader's fencing token (its key's create revision).
        public var token: FencingToken
        /// The revision of the last change to the value.
        public var modRevision: Revision

        /// The value as UTF-8 text.
        public var valueString: String { String(decoding: value, as: UTF8.self) }
    }

    /// Campaigns with `value` and returns once this session leads.
    ///
    /// Campaigns of one session in one election take turns (they would share one key): a second
    /// campaign waits until the first one's leadership is resigned or lost. When waiting ends
    /// without leadership (timeout, cancellation, a lost session), the campaign's key is deleted
    /// before the call returns, or, when etcd cannot be reached, in the background until the
    /// deletion lands or the session ends.
    ///
    /// - Throws: ``LockError`` `.timeout`, `.cancelled`, `.sessionLost`, `.ownershipLost`;
    ///   ``EtcdError`` when etcd cannot be reached.
    public func campaign(value: some Sequence<UInt8>, timeout: Duration? = nil) async throws -> Leadership {
        let proposal = Array(value)
        // The campaign's rule is the mutex's: nothing ahead.
        let entry = LockQueue.Entry(key: queue.sessionKey, value: proposal, rule: NothingAhead())
        let ticket = try await queue.acquire(entry, deadline: timeout.map { .now + $0 })
        let leadership = Leadership(
            lock: LockGuard(name: name, ticket: ticket, mode: .exclusive))
        // A key found from an earlier campaign of this session keeps its old value: publish ours.
        if let found = ticket.foundValue, found != proposal {
            do {
                try await proclaim(proposal, as: leadership)
            } catch {
                // Not reported as leading: the key must not stay behind as a leader nobody knows of.
                await queue.withdraw(ticket.key, revision: ticket.revision)
                queue.releaseLocalTurn(ticket.key)
                throw error
            }
        }
        return leadership
    }

    /// Publishes a new value, only while `leadership` is still current.
    ///
    /// - Throws: ``LockError`` `.ownershipLost` when leadership was lost; ``EtcdError`` otherwise.
    public func proclaim(_ value: some Sequence<UInt8>, as leadership: Leadership) async throws {
        let result = try await session.client.txn(
            Txn(
                if: [.createRevision(of: leadership.key, .equal, leadership.token.revision)],
                then: [.put(leadership.key, value: value, lease: session.lease)]))
        guard result.succeeded else {
            throw LockError(code: .ownershipLost, message: "leadership of \(name) was lost before proclaiming")
        }
    }

    /// Gives up leadership, letting the next campaigner lead (and this session campaign again).
    /// Completes even when the calling task is cancelled (within the request timeout). If the
    /// answer is lost, the key is read back to learn whether the resignation landed.
    ///
    /// - Throws: ``LockError`` `.notHeld` when leadership had already been resigned or lost;
    ///   ``EtcdError`` when etcd cannot be reached (leadership is then kept: call again).
    public func resign(_ leadership: Leadership) async throws {
        do {
            try await queue.release(leadership.lock)
        } catch let error as LockError where error.code == .notHeld {
            throw LockError(code: .notHeld, message: "leadership of \(name) was already resigned or lost", underlying: error.underlying)
        }
    }

    /// Waits until `leadership` is lost and says how: the session is lost, or the leader's key was
    /// deleted or replaced (an administrator's force-release). Call it to stop leading work in
    /// time; fence that work with ``Leadership/token`` all the same.
    ///
    /// While etcd cannot be reached the key is watched again with backoff; meanwhile the
    /// session's keepalive decides whether leadership still stands.
    ///
    /// - Throws: `CancellationError` (or ``EtcdError`` `.cancelled`) when the task is cancelled first.
    public func waitUntilLost(_ leadership: Leadership) async throws -> LockLoss {
        try await queue.waitUntilLost(leadership.key, revision: leadership.token.revision)
    }

    /// The current leader, or `nil` when nobody campaigns.
    ///
    /// - Throws: ``EtcdError`` when etcd cannot be reached.
    public func leader() async throws -> Leader? {
        try await Self.readLeader(session.client, prefix: prefix)
    }

    /// Leader changes, starting with the current leader: a new leader, a new value, or `nil`
    /// when nobody leads. Follows one watch of the election's prefix.
    ///
    /// - Throws: ``EtcdError`` when etcd cannot be reached.
    public func observe() async throws -> LeaderChanges {
        try await observe(afterWatching: {})
    }

    /// ``observe()`` with a hook between the watch's creation and the first read: tests make
    /// leaders change exactly there, where stale leaders used to be reported.
    func observe(afterWatching hook: @Sendable () async throws -> Void) async throws -> LeaderChanges {
        let watch = try await session.client.watch(.prefix(prefix))
        try await hook()
        let (initial, revision) = try await Self.readLeaderWithRevision(session.client, prefix: prefix)
        return LeaderChanges(client: session.client, prefix: prefix, watch: watch, initial: initial, initialRevision: revision)
    }

    static func readLeader(_ client: EtcdClient, prefix: EtcdKey) async throws -> Leader? {
        try await readLeaderWithRevision(client, prefix: prefix).leader
    }

    /// The leader and the revision it was read at.
    static func readLeaderWithRevision(_ client: EtcdClient, prefix: EtcdKey) async throws -> (leader: Leader?, revision: Revision) {
        let head = try await client.range(RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .ascending)))
        let leader = head.keyValues.first.map {
            Leader(key: $0.key, value: $0.value, token: FencingToken($0.createRevision), modRevision: $0.modRevision)
        }
        return (leader, head.header.revision)
    }
}

/// The sequence of leaders ``EtcdElection/observe()`` reports; each element differs from the one before.
public struct LeaderChanges: AsyncSequence, Sendable {
    public typealias Element = EtcdElection.Leader?

    let client: EtcdClient
    let prefix: EtcdKey
    let watch: EtcdWatch
    let initial: EtcdElection.Leader?
    /// The revision `initial` was read at: earlier events are already reflected in it.
    let initialRevision: Revision

    /// Stops observing.
    public func cancel() { watch.cancel() }

    public func makeAsyncIterator() -> Iterator {
        Iterator(changes: self)
    }

    /// Iterates leader changes.
    public struct Iterator: AsyncIteratorProtocol {
        private let changes: LeaderChanges
        private var events: EtcdWatch.Iterator
        private var last: EtcdElection.Leader??

        init(changes: LeaderChanges) {
            self.changes = changes
            events = changes.watch.makeAsyncIterator()
        }

        /// The next different leader (`.some(nil)` means nobody leads); `nil` when observing stopped.
        public mutating func next() async throws -> EtcdElection.Leader?? {
            guard let previous = last else {
                last = .some(changes.initial)
                return .some(changes.initial)
            }
            while let event = try await events.next() {
                // Events between the watch's creation and the first read are already in `initial`:
                // re-reading the head at their (older) revisions would report stale leaders.
                if event.revision <= changes.initialRevision { continue }
                // Only the head of the queue matters; read it as of this event's revision, so each
                // change is reported once and in order.
                let head = try await changes.client.range(
                    RangeRequest(
                        .prefix(changes.prefix), limit: 1, revision: event.revision, sort: .init(.createRevision, .ascending)))
                let current = head.keyValues.first.map {
                    EtcdElection.Leader(key: $0.key, value: $0.value, token: FencingToken($0.createRevision), modRevision: $0.modRevision)
                }
                if current?.key != previous?.key || current?.token != previous?.token || current?.value != previous?.value {
                    last = .some(current)
                    return .some(current)
                }
            }
            return nil
        }
    }
}
