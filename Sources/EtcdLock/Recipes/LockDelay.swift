import Etcd

/// Lock-delay (as in Chubby and Consul): after a holder's session is *lost* — expired, not
/// released — its lock stays unavailable for a while, so that a resource that cannot check
/// fencing tokens gets a grace period for the stale holder's in-flight writes to die out.
///
/// How it holds across processes: an exclusive holder (a mutex holder, a writer) records a
/// *marker* key next to the queue, `/etcdlock/<namespace>/<kind>-delay/<name>`, whose value is
/// its fencing token. The marker is attached to a second lease of the holder's session, with a
/// TTL of the session's TTL plus the delay, renewed together with the session's lease. A clean
/// release deletes the marker in the same transaction as the lock key, so the next holder is
/// admitted at once. When the session is lost instead, its lock key goes with its lease and the
/// marker outlives it by the delay: a successor admitted by the queue finds a marker that is not
/// its own and waits for it to expire before it is told it holds the lock.
///
/// A marker that is not a successor's own stops counting when its lease expires, or once the
/// delay has passed since that successor first saw it, whichever comes first: so a holder whose
/// key an administrator deleted, while its session lives on, delays the lock by the delay too,
/// not for the session's lifetime.
///
/// Every user of one lock must pass the same delay: a user without it neither writes nor waits
/// for markers. Release explicitly to hand over at once (`withLock` does): a session that ends
/// while still holding leaves its markers to expire, as a lost one does.
public enum LockDelay {
    /// The longest lock-delay accepted.
    public static let maximum = Duration.seconds(3600)

    /// `delay`, checked to be between 1 ms and ``maximum``.
    static func validated(_ delay: Duration?) throws -> Duration? {
        guard let delay else { return nil }
        guard delay >= .milliseconds(1), delay <= maximum else {
            throw LockError(code: .invalidArgument, message: "a lock-delay must be between 1 ms and 1 hour, not \(delay)")
        }
        return delay
    }
}
