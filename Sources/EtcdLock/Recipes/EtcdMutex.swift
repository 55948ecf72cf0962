import Etcd
import Foundation

/// A distributed mutual-exclusion lock with fencing tokens, FIFO by arrival.
///
/// ```swift
/// let mutex = try EtcdMutex("invoices", session: session)
/// try await mutex.withLock(timeout: .seconds(30)) { lock in
///     // Every protected write carries the token, so a stale holder's write cannot land.
///     try await mutex.fenced(lock, Txn(then: [.put("/invoices/next", value: "1042".utf8)]))
/// }
/// ```
///
/// Acquiring creates `/etcdlock/<namespace>/lock/<name>/<lease-hex>` in one transaction; the
/// key with the lowest create revision holds the lock, and its create revision is the fencing
/// token. A waiter watches only the key just ahead of it. Tasks that share a session queue locally
/// first, so the lock is exclusive between them too.
public struct EtcdMutex: Sendable {
    /// The lock's name.
    public let name: String
    /// The session whose lease keeps this lock's key alive.
    public let session: EtcdSession
    let queue: LockQueue

    /// How long the lock stays unavailable after a holder's session is *lost* (see ``LockDelay``);
    /// `nil` when a lost holder's successor is admitted at once.
    public let lockDelay: Duration?

    /// A mutex named `name` in `namespace`, held through `session`.
    ///
    /// - Parameter lockDelay: after a holder's session is lost (expired, not released), keep the
    ///   lock unavailable this long, so a resource that cannot check fencing tokens gets a grace
    ///   period for the stale holder's in-flight writes to die out. A clean release hands over at
    ///   once. Every user of the lock must pass the same value (see ``LockDelay``).
    /// - Throws: ``LockError`` `.invalidName` for an empty name, one over 512 bytes, or one with
    ///   control characters or U+FFFD (the trace of invalid UTF-8). Any other text is fine: names
    ///   are escaped, never interpreted. `.invalidArgument` for a lock-delay that is not between
    ///   1 ms and ``LockDelay/maximum``.
    public init(_ name: String, session: EtcdSession, namespace: String = "default", lockDelay: Duration? = nil) throws {
        try self.init(name, session: session, namespace: namespace, lockDelay: lockDelay, store: nil)
    }

    /// A mutex whose queue operations go through `store` (tests interpose on them).
    init(_ name: String, session: EtcdSession, namespace: String, lockDelay: Duration? = nil, store: (any QueueStore)?) throws {
        self.name = name
        self.session = session
        self.lockDelay = try LockDelay.validated(lockDelay)
        queue = try LockQueue(session: session, namespace: namespace, kind: .mutex, name: name, store: store)
        delayMarker = try self.lockDelay.map {
            LockQueue.DelayMarker(key: try LockQueue.delayMarkerKey(namespace: namespace, kind: .mutex, name: name), delay: $0, recordsOwn: true)
        }
    }

    let delayMarker: LockQueue.DelayMarker?

    /// A mutex over a given queue, without lock-delay.
    init(name: String, session: EtcdSession, queue: LockQueue) {
        self.name = name
        self.session = session
        self.queue = queue
        lockDelay = nil
        delayMarker = nil
    }

    /// The admission rule: nothing ahead. A waiter watches the one key just ahead of it.
    private var entry: LockQueue.Entry {
        LockQueue.Entry(
            key: queue.sessionKey, record: QueueEntryRecord(queuedAt: Date(), owner: session.owner), rule: NothingAhead(), delay: delayMarker)
    }

    /// The key prefix under which holders and waiters queue.
    public var prefix: EtcdKey { queue.prefix }

    /// Acquires the lock, waiting as long as needed or until `timeout`.
    ///
    /// When waiting ends without the lock (timeout, cancellation, an error), this session's key is
    /// deleted before the call returns, so no phantom waiter blocks the queue.
    ///
    /// - Throws: ``LockError`` `.timeout`, `.cancelled`, `.sessionLost`, `.ownershipLost` (the
    ///   waiting key was deleted by someone else), `.wouldDeadlock` (this task holds it already,
    ///   through ``withLock(timeout:reentrant:isolation:_:)``); ``EtcdError`` when etcd cannot be reached.
    public func lock(timeout: Duration? = nil) async throws -> LockGuard {
        try queue.checkNotHeldByThisTask()
        return try await queue.hold(entry, timeout: timeout)
    }

    /// Acquires the lock only if nobody holds it.
    ///
    /// - Returns: ``TryLockOutcome/acquired(_:)``, or ``TryLockOutcome/heldByOther(_:)`` with the
    ///   holder, after deleting this attempt's key.
    /// - Throws: ``LockError`` `.sessionLost`; ``EtcdError`` when etcd cannot be reached.
    public func tryLock() async throws -> TryLockOutcome {
        try await queue.tryHold(entry)
    }

    /// Releases the lock: deletes its key if it is still the one this guard created.
    ///
    /// If etcd cannot be reached the guard stays held (call again); if the answer is lost, the
    /// key is read back to learn whether the release landed. The release completes even when
    /// the calling task is cancelled (within the client's request timeout): a release abandoned
    /// midway would leave the lock held until the session ended.
    ///
    /// - Throws: ``LockError`` `.notHeld` when the guard was already released or the lock had
    ///   been lost before (its key was gone or replaced); ``EtcdError`` when etcd cannot be reached.
    public func unlock(_ lock: LockGuard) async throws {
        try await queue.release(lock)
    }

    /// Releases the lock like ``unlock(_:)``, trying again while etcd cannot be reached, until
    /// the release lands, the lock turns out lost, or the session ends.
    ///
    /// A failed ``unlock(_:)`` keeps the guard held — its key may still be in etcd — and with it
    /// this session's turn on the lock: the next ``lock(timeout:)`` of the session waits behind
    /// it. Call this when there is nothing better to do than to insist; ``withLock(timeout:reentrant:isolation:_:)``
    /// releases this way. It completes even when the calling task is cancelled; a session that
    /// cannot reach etcd is lost within its TTL, which bounds the retries.
    ///
    /// - Parameter onFailure: told about each failed attempt.
    /// - Returns: `true` when the release landed; `false` when the lock had been lost before, the
    ///   session ended first (its lease then removes the key), or etcd refused the release for good
    ///   (permission denied, …). The guard then counts as released: other tasks of the session
    ///   can lock again.
    public func unlockUntilDone(_ lock: LockGuard, onFailure: @escaping @Sendable (any Error) -> Void = { _ in }) async -> Bool {
        await queue.releaseUntilDone(lock, onFailure: onFailure)
    }

    /// Runs `txn` only if this guard still holds the lock, atomically.
    ///
    /// The transaction is nested in one whose compare is the lock key's create revision, so a
    /// stale holder's write can never land.
    ///
    /// - Returns: the result of `txn` (whose own compares may still fail).
    /// - Throws: ``LockError`` `.ownershipLost` when the lock is no longer held by this guard;
    ///   ``EtcdError`` for etcd failures (``EtcdError/mayHaveBeenApplied`` tells whether it may have landed).
    @discardableResult
    public func fenced(_ lock: LockGuard, _ txn: Txn, timeout: Duration? = nil) async throws -> TxnResult {
        try await queue.fenced(lock, txn, timeout: timeout)
    }

    /// Waits until `lock` is lost and says how: its session is lost, or its key was deleted or
    /// replaced (an administrator's force-release). ``withLock(timeout:reentrant:isolation:_:)`` uses it to
    /// cancel its body; call it to supervise work done between ``lock(timeout:)`` and ``unlock(_:)``.
    ///
    /// While etcd cannot be reached the key is watched again with backoff; meanwhile the
    /// session's keepalive decides whether the lock is still held.
    ///
    /// - Throws: `CancellationError` (or ``EtcdError`` `.cancelled`) when the task is cancelled first.
    public func waitUntilLost(_ lock: LockGuard) async throws -> LockLoss {
        try await queue.waitUntilLost(lock.key, revision: lock.token.revision)
    }

    /// The current holder, or `nil` when the lock is free.
    ///
    /// - Throws: ``EtcdError`` when etcd cannot be reached.
    public func holder() async throws -> LockHolder? {
        let head = try await session.client.range(
            RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .ascending)))
        return head.keyValues.first.map(LockHolder.init(entry:))
    }
}

/// How a held lock was lost.
public enum LockLoss: Sendable, Hashable, CustomStringConvertible {
    /// The session's lease is gone (or its deadline passed): every lock under it is lost.
    case sessionLost(SessionLoss)
    /// The lock key was deleted or replaced by someone else (a force-release).
    case keyDeleted

    public var description: String {
        switch self {
        case .sessionLost(let reason): "\(reason)"
        case .keyDeleted: "the lock key was deleted"
        }
    }
}
