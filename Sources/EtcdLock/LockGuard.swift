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
    let state: GuardState

    public var description: String { "\(name) held with token \(token)" }

    /// Whether ``EtcdMutex/unlock(_:)`` already released it.
    public var isReleased: Bool { state.isReleased }
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
