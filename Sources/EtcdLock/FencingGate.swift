import Synchronization

/// What a resource outside etcd does with fencing tokens: accept a write only when its token
/// is not older than the newest token already accepted.
///
/// ```swift
/// let gate = FencingGate()
/// guard gate.admit(request.token) else { return .conflict }   // a stale holder
/// try storage.write(request.data)
/// ```
/// Check and write must be atomic with respect to other writers of the resource: hold the
/// resource's own lock (or use a transaction) around ``admit(_:)`` and the write.
public final class FencingGate: Sendable {
    private let newest: Mutex<FencingToken?>

    /// A gate that has seen no token yet, or `newest` when restoring persisted state.
    public init(newest: FencingToken? = nil) {
        self.newest = Mutex(newest)
    }

    /// Accepts `token` if no newer token was accepted before, and remembers it.
    ///
    /// - Returns: `true` when the write may proceed; `false` for a stale token.
    public func admit(_ token: FencingToken) -> Bool {
        newest.withLock { newest in
            if let current = newest, token < current { return false }
            newest = token
            return true
        }
    }

    /// The newest token accepted so far.
    public var newestToken: FencingToken? { newest.withLock { $0 } }
}
