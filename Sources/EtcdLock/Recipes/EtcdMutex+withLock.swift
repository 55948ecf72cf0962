import Etcd

extension EtcdMutex {
    /// Runs `body` while holding the lock, then releases it, even when `body` throws.
    ///
    /// If the session is lost or the lock key is deleted (by an administrator, say) while `body`
    /// runs, `body` is cancelled; once it has ended, the call throws `.ownershipLost`.
    ///
    /// `body` runs in the caller's isolation: on the main actor from top-level or `@MainActor`
    /// code, on the actor from an actor's method. It may use that actor's state, and neither
    /// `body` nor its result needs to be `Sendable`. So that it can be cancelled without
    /// cancelling the caller, it runs in a task of its own, which inherits the caller's actor
    /// (through `isolation`), priority and task-local values and is always awaited before this
    /// call returns; a task group's child task cannot be bound to the caller's actor. The watch
    /// for the loss runs apart, on the global executor, so a busy actor does not delay noticing
    /// it; cancelling `body` still takes effect only at its next suspension point.
    ///
    /// Cancelling the calling task cancels `body`; the lock is released all the same (as by
    /// ``unlockUntilDone(_:onFailure:)``) and, when `body` ends by throwing `CancellationError`,
    /// the call throws ``LockError`` `.cancelled`, as a cancelled wait does (a `body` that finished
    /// anyway returns its value).
    ///
    /// - Parameters:
    ///   - timeout: how long to wait for the lock (forever when `nil`).
    ///   - reentrant: when this task already holds the lock through an enclosing `withLock` on the
    ///     same session, run `body` under that hold instead of throwing `.wouldDeadlock`.
    ///   - isolation: the actor `body` runs on; leave it to its default, the caller's.
    /// - Important: Cancellation cannot stop a write already in flight. Fence every protected write
    ///   with the guard's token (``fenced(_:_:timeout:)`` or ``FencingGate``).
    /// - Throws: everything ``lock(timeout:)`` throws; ``LockError`` `.ownershipLost`; what `body` throws.
    public func withLock<Result>(
        timeout: Duration? = nil, reentrant: Bool = false,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockGuard) async throws -> Result
    ) async throws -> Result {
        try await queue.withHold(reentrant: reentrant, isolation: isolation, acquire: { try await lock(timeout: timeout) }, body)
    }
}
