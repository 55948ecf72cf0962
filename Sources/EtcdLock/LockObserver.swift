import Etcd

/// Receives what happens to sessions and locks, to bridge into a metrics or logging system.
///
/// Every method has an empty default. Calls come synchronously from the tasks doing the work, on
/// no particular actor: return quickly. That is also why a `@MainActor` type (or an actor's
/// isolated method) cannot be an observer; to handle events on an actor, pass a
/// ``LockEventStream`` and iterate it there. Names passed here are user-given lock names: if you
/// turn them into metric labels, make sure their set is bounded.
public protocol LockObserver: Sendable {
    /// A task started waiting for `name` (it was not free at once).
    func waitStarted(name: String)
    /// A task stopped waiting for `name` (acquired, timed out, cancelled or failed).
    func waitEnded(name: String)
    /// `name` was acquired after waiting `waited`, with fencing token `token`.
    func acquired(name: String, token: FencingToken, waited: Duration)
    /// `name` was released after being held for `held`.
    func released(name: String, token: FencingToken, held: Duration)
    /// An attempt to acquire `name` gave up at its timeout after `waited`.
    func timedOut(name: String, waited: Duration)
    /// A lock held under `name` was lost while held.
    func ownershipLost(name: String, token: FencingToken)
    /// The session's lease is gone: every lock under it is invalid.
    func sessionLost(lease: LeaseID, reason: SessionLoss)
    /// One keepalive failed; the session retries until its deadline.
    func keepAliveFailed(lease: LeaseID, error: any Error)
    /// Whether this observer receives ``traced(_:name:)``. Read once, when a session starts.
    var tracesRequests: Bool { get }
    /// A queue of the lock `name` sent a request or received an answer or event (only when
    /// ``tracesRequests`` is `true`). Called on the task doing the work, right at that moment:
    /// take the time here.
    func traced(_ step: LockTraceStep, name: String)
}

extension LockObserver {
    /// Does nothing unless overridden.
    public func waitStarted(name: String) {}
    /// Does nothing unless overridden.
    public func waitEnded(name: String) {}
    /// Does nothing unless overridden.
    public func acquired(name: String, token: FencingToken, waited: Duration) {}
    /// Does nothing unless overridden.
    public func released(name: String, token: FencingToken, held: Duration) {}
    /// Does nothing unless overridden.
    public func timedOut(name: String, waited: Duration) {}
    /// Does nothing unless overridden.
    public func ownershipLost(name: String, token: FencingToken) {}
    /// Does nothing unless overridden.
    public func sessionLost(lease: LeaseID, reason: SessionLoss) {}
    /// Does nothing unless overridden.
    public func keepAliveFailed(lease: LeaseID, error: any Error) {}
    /// `false` unless overridden: no trace calls are made.
    public var tracesRequests: Bool { false }
    /// Does nothing unless overridden.
    public func traced(_ step: LockTraceStep, name: String) {}
}

/// An observer that ignores everything (the default).
public struct NoLockObserver: LockObserver {
    /// Creates the observer.
    public init() {}
}
