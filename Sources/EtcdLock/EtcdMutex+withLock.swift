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
    /// ``unlockUntilDone(_:onFailure:)``) and the cancellation error is rethrown.
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
        if reentrant, let outer = HeldLocks.current.held(queue.key) {
            return try await body(outer)
        }
        let lock = try await self.lock(timeout: timeout)
        let held = HeldLocks.current.adding(lock)
        let outcome: LossScopeOutcome<Result>
        do {
            outcome = try await runUntilLost(isolation: isolation, loss: { _ = try await self.waitUntilLost(lock) }) {
                try await HeldLocks.$current.withValue(held) { try await body(lock) }
            }
        } catch {
            _ = await unlockUntilDone(lock)
            throw error
        }
        switch outcome {
        case .finished(let value):
            guard await unlockUntilDone(lock) else {
                throw LockError(code: .ownershipLost, message: "\(name) was lost before the body finished")
            }
            return value
        case .lost:
            _ = await unlockUntilDone(lock)
            session.observer.ownershipLost(name: name, token: lock.token)
            throw LockError(code: .ownershipLost, message: "\(name) was lost while held (token \(lock.token))")
        }
    }
}

/// The locks the current task holds through ``EtcdMutex/withLock(timeout:reentrant:isolation:_:)``.
struct HeldLocks: Sendable {
    var guards: [EtcdKey: LockGuard] = [:]

    @TaskLocal static var current = HeldLocks()

    /// Task-locals are inherited by tasks started in the scope, which can outlive it: a guard
    /// counts only while it has not been released.
    func held(_ key: EtcdKey) -> LockGuard? {
        guard let lock = guards[key], !lock.isReleased else { return nil }
        return lock
    }

    func contains(_ key: EtcdKey) -> Bool { held(key) != nil }

    func adding(_ lock: LockGuard) -> HeldLocks {
        var copy = self
        copy.guards[lock.key] = lock
        return copy
    }
}
