import Etcd
import Synchronization

/// Proof of holding a lock: its fencing token and key.
///
/// > Important: A guard can become invalid at any time (the session can be lost while a
/// > process is paused). Fence every protected write with ``token``.
public struct LockGuard: Sendable, CustomStringConvertible {
    /// The lock's name.
    public let name: String
    /// The lock key this holder created.
    public let key: EtcdKey
    /// The fencing token: strictly greater than every earlier holder's.
    public let token: FencingToken
    /// When the lock was acquired (monotonic clock).
    public let acquiredAt: ContinuousClock.Instant
    /// What kind of hold this is.
    public let mode: LockMode
    let state: GuardState
    /// The lock-delay marker this hold recorded, deleted with its key on release.
    let marker: EtcdKey?
    /// The record of this hold's key, when the key does not record its admission yet (see
    /// ``QueueEntryRecord``).
    let unrecordedAdmission: QueueEntryRecord?

    init(name: String, ticket: LockQueue.Ticket, mode: LockMode) {
        self.name = name
        key = ticket.key
        token = FencingToken(ticket.revision)
        acquiredAt = ticket.acquiredAt
        self.mode = mode
        marker = ticket.marker
        unrecordedAdmission = ticket.unrecordedAdmission
        state = GuardState()
    }

    public var description: String { "\(name) held with token \(token)" }

    /// Whether ``EtcdMutex/unlock(_:)`` already released it.
    public var isReleased: Bool { state.isReleased }
}

/// The kind of hold a ``LockGuard`` stands for.
public enum LockMode: String, Sendable, Hashable {
    /// An ``EtcdMutex`` hold, or an ``EtcdElection`` leadership: nobody else holds it.
    case exclusive
    /// An ``EtcdReadWriteLock`` read hold: shared with other readers, never with a writer.
    case read
    /// An ``EtcdReadWriteLock`` write hold: nobody else holds it, reader or writer.
    case write
    /// One of an ``EtcdSemaphore``'s permits.
    case permit
}

extension LockMode {
    /// Whether holds of this mode are shared with others of their queue (reads, permits): their
    /// enqueues and releases travel alone, never merged with other transactions.
    var isShared: Bool { self == .read || self == .permit }
}

/// A guard's release state, shared by its copies.
final class GuardState: Sendable {
    private let released = Mutex(false)

    var isReleased: Bool { released.withLock { $0 } }

    /// Marks it released; returns `false` if it already was.
    func markReleased() -> Bool {
        released.withLock { released in
            defer { released = true }
            return !released
        }
    }
}

/// The outcome of ``EtcdMutex/tryLock()``: contention is an expected result, not an error.
public enum TryLockOutcome: Sendable {
    /// The lock is now held.
    case acquired(LockGuard)
    /// Someone else holds it; nothing of this attempt is left in etcd.
    case heldByOther(LockHolder)
}

/// Who holds a lock, as etcd records it.
public struct LockHolder: Sendable, Hashable {
    /// The holder's key (its last segment is the holder's lease in hex).
    public var key: EtcdKey
    /// The holder's fencing token.
    public var token: FencingToken
    /// The holder's description (its session's ``EtcdSession/owner``), or this process for a
    /// holder in the same session.
    public var owner: String
    /// The holder's lease.
    public var lease: LeaseID?
}

extension LockHolder {
    /// The holder an entry of a queue stands for.
    init(entry: KeyValue) {
        self.init(key: entry.key, token: FencingToken(entry.createRevision), owner: QueueEntryRecord(entry.value).owner, lease: entry.lease)
    }

    /// The head of a queue, or, when `head` is `nil`, this session (another of its tasks holds
    /// the session's key).
    init(head: KeyValue?, orThisSessionOf queue: LockQueue) {
        if let head {
            self.init(entry: head)
        } else {
            self.init(key: queue.sessionKey, token: FencingToken(rawValue: 0), owner: queue.session.owner, lease: queue.session.lease)
        }
    }
}
