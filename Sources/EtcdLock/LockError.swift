import Etcd

/// A failure of a lock recipe, with a stable ``Code``.
///
/// etcd failures that are not about lock semantics (an unreachable cluster, a timeout of a
/// single request) are thrown as ``EtcdError`` directly.
public struct LockError: Error, Sendable, CustomStringConvertible {
    /// A stable, bounded classification; safe as a metric label.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case invalidName = "invalid_name"
            case invalidTTL = "invalid_ttl"
            case sessionLost = "session_lost"
            case ownershipLost = "ownership_lost"
            case notHeld = "not_held"
            case timeout
            case cancelled
            case wouldDeadlock = "would_deadlock"
            case invalidArgument = "invalid_argument"
            case permitsMismatch = "permits_mismatch"
        }

        fileprivate let base: Base
        fileprivate init(_ base: Base) { self.base = base }

        /// The lock, election or namespace name is empty, too long, or not valid UTF-8 text.
        public static var invalidName: Self { Self(.invalidName) }
        /// The session TTL is not between 1 second and 1 year.
        public static var invalidTTL: Self { Self(.invalidTTL) }
        /// The session's lease expired, was revoked, or could not be renewed before its deadline.
        public static var sessionLost: Self { Self(.sessionLost) }
        /// The lock was lost while it was held (its key was deleted or the session was lost).
        public static var ownershipLost: Self { Self(.ownershipLost) }
        /// The guard was already released, or the lock was no longer held when releasing it.
        public static var notHeld: Self { Self(.notHeld) }
        /// The lock was not acquired before the timeout; nothing of the attempt is left in etcd.
        public static var timeout: Self { Self(.timeout) }
        /// The waiting task was cancelled; nothing of the attempt is left in etcd.
        public static var cancelled: Self { Self(.cancelled) }
        /// The task already holds this lock on this session and did not ask for reentrancy.
        public static var wouldDeadlock: Self { Self(.wouldDeadlock) }
        /// An option is out of range (a semaphore's permit count, a lock-delay, …).
        public static var invalidArgument: Self { Self(.invalidArgument) }
        /// A semaphore was used with a permit count other than the one its current holders use.
        public static var permitsMismatch: Self { Self(.permitsMismatch) }

        /// A short, bounded string such as `session_lost`.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public var code: Code
    /// Details for humans.
    public var message: String
    /// The etcd error behind this one, if any.
    public var underlying: EtcdError?

    /// Creates an error; the recipes build these for you.
    public init(code: Code, message: String, underlying: EtcdError? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "lock error \(code): \(message)" }
}
