/// A request of a lock queue going out or coming back, reported to
/// ``LockObserver/traced(_:name:)`` when the session's observer asks for it
/// (``LockObserver/tracesRequests``).
///
/// Timing these steps shows where a contended handoff spends its time, and counting the `…Sent`
/// steps gives the etcd requests an acquisition costs by kind (`etcdlock bench locks` prints
/// both). Off by default: the queue then makes no calls at all.
public enum LockTraceStep: Sendable, Hashable, CaseIterable {
    /// The transaction that puts the entry's key in the queue was handed to the client.
    case enqueueSent
    /// Its answer arrived.
    case enqueueAnswered
    /// A read of the queue (the slice the recipe needs and the entry's own key) was handed to the client.
    case lookSent
    /// Its answer arrived.
    case lookAnswered
    /// A watch on the key ahead (and on the entry's own) was requested.
    case watchSent
    /// etcd confirmed the watch: from here on, no change is missed.
    case watchCreated
    /// An event that concerns the entry arrived on its watch.
    case eventReceived
    /// The transaction that deletes a held entry's key was handed to the client.
    case releaseSent
    /// Its answer arrived.
    case releaseAnswered
}
