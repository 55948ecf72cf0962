import Etcd

/// Something that happened to a session or a lock: one ``LockObserver`` call, as a value.
public enum LockEvent: Sendable, CustomStringConvertible {
    /// A task started waiting for `name` (it was not free at once).
    case waitStarted(name: String)
    /// A task stopped waiting for `name` (acquired, timed out, cancelled or failed).
    case waitEnded(name: String)
    /// `name` was acquired after waiting `waited`, with fencing token `token`.
    case acquired(name: String, token: FencingToken, waited: Duration)
    /// `name` was released after being held for `held`.
    case released(name: String, token: FencingToken, held: Duration)
    /// An attempt to acquire `name` gave up at its timeout after `waited`.
    case timedOut(name: String, waited: Duration)
    /// A lock held under `name` was lost while held.
    case ownershipLost(name: String, token: FencingToken)
    /// The session's lease is gone: every lock under it is invalid.
    case sessionLost(lease: LeaseID, reason: SessionLoss)
    /// One keepalive failed; the session retries until its deadline.
    case keepAliveFailed(lease: LeaseID, error: any Error)

    public var description: String {
        switch self {
        case .waitStarted(let name): "waiting for \(name)"
        case .waitEnded(let name): "stopped waiting for \(name)"
        case .acquired(let name, let token, let waited): "acquired \(name) with token \(token) after \(waited)"
        case .released(let name, let token, let held): "released \(name) (token \(token)) after holding it \(held)"
        case .timedOut(let name, let waited): "gave up waiting for \(name) after \(waited)"
        case .ownershipLost(let name, let token): "lost \(name) (token \(token)) while holding it"
        case .sessionLost(let lease, let reason): "session \(lease) lost: \(reason)"
        case .keepAliveFailed(let lease, let error): "a keepalive of session \(lease) failed: \(error)"
        }
    }
}

/// A ``LockObserver`` that is also an `AsyncSequence` of its events, to handle them on an actor
/// (the main actor, say) rather than on the tasks doing the work.
///
/// ```swift
/// let events = LockEventStream()
/// try await EtcdSession.withSession(client, observer: events) { session in … }
/// events.finish()
/// // Elsewhere, in one task, on any actor:
/// for await event in events { status = "\(event)" }
/// ```
///
/// Observer methods are called synchronously, on no particular actor, so a `@MainActor` type
/// cannot be a ``LockObserver``; this one only buffers each event for the task iterating it. It
/// keeps at most `bufferingNewest` events that nobody has taken yet, dropping the oldest beyond
/// that, so an observer nobody iterates costs bounded memory. Iterate it from one task at a time;
/// iteration ends after ``finish()``.
public struct LockEventStream: LockObserver, AsyncSequence, Sendable {
    public typealias Element = LockEvent

    private let events: AsyncStream<LockEvent>
    private let continuation: AsyncStream<LockEvent>.Continuation

    /// Creates the stream, keeping up to `bufferingNewest` events not iterated yet.
    public init(bufferingNewest limit: Int = 1024) {
        (events, continuation) = AsyncStream.makeStream(of: LockEvent.self, bufferingPolicy: .bufferingNewest(limit))
    }

    /// Ends iteration once the buffered events are taken; later events are dropped.
    public func finish() { continuation.finish() }

    public func makeAsyncIterator() -> AsyncStream<LockEvent>.Iterator { events.makeAsyncIterator() }

    /// Emits ``LockEvent/waitStarted(name:)``.
    public func waitStarted(name: String) { continuation.yield(.waitStarted(name: name)) }
    /// Emits ``LockEvent/waitEnded(name:)``.
    public func waitEnded(name: String) { continuation.yield(.waitEnded(name: name)) }
    /// Emits ``LockEvent/acquired(name:token:waited:)``.
    public func acquired(name: String, token: FencingToken, waited: Duration) {
        continuation.yield(.acquired(name: name, token: token, waited: waited))
    }
    /// Emits ``LockEvent/released(name:token:held:)``.
    public func released(name: String, token: FencingToken, held: Duration) {
        continuation.yield(.released(name: name, token: token, held: held))
    }
    /// Emits ``LockEvent/timedOut(name:waited:)``.
    public func timedOut(name: String, waited: Duration) { continuation.yield(.timedOut(name: name, waited: waited)) }
    /// Emits ``LockEvent/ownershipLost(name:token:)``.
    public func ownershipLost(name: String, token: FencingToken) {
        continuation.yield(.ownershipLost(name: name, token: token))
    }
    /// Emits ``LockEvent/sessionLost(lease:reason:)``.
    public func sessionLost(lease: LeaseID, reason: SessionLoss) {
        continuation.yield(.sessionLost(lease: lease, reason: reason))
    }
    /// Emits ``LockEvent/keepAliveFailed(lease:error:)``.
    public func keepAliveFailed(lease: LeaseID, error: any Error) {
        continuation.yield(.keepAliveFailed(lease: lease, error: error))
    }
}
