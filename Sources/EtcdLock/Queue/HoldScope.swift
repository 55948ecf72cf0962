import Etcd

extension LockQueue {
    /// Runs `body` while holding the guard `acquire` returns, then releases it, even when `body`
    /// throws; the one scope behind every recipe's `with…Lock`.
    ///
    /// If the session is lost or the guard's key is deleted while `body` runs, `body` is
    /// cancelled; once it has ended, the call throws `.ownershipLost`. Cancelling the caller
    /// cancels `body`; the guard is released all the same, and a `CancellationError` from `body`
    /// becomes ``LockError`` `.cancelled`, as for a cancelled wait. `body`
    /// runs in `isolation` (see ``runUntilLost(isolation:loss:_:)`` for why in a task of its own).
    ///
    /// - Parameter reuse: when this task already holds a guard of this queue on this session
    ///   (an enclosing scope) and `reentrant` is set, whether `body` may run under that guard.
    func withHold<Result>(
        reentrant: Bool, reuse: (LockGuard) -> Bool = { _ in true },
        isolation: isolated (any Actor)?,
        acquire: () async throws -> LockGuard,
        _ body: (LockGuard) async throws -> Result
    ) async throws -> Result {
        if reentrant, let outer = HeldLocks.current.held(sessionKey), reuse(outer) {
            return try await body(outer)
        }
        let lock = try await acquire()
        let held = HeldLocks.current.adding(lock, as: sessionKey)
        let outcome: LossScopeOutcome<Result>
        do {
            let queue = self
            outcome = try await runUntilLost(
                isolation: isolation, loss: { _ = try await queue.waitUntilLost(lock.key, revision: lock.token.revision) }
            ) {
                try await HeldLocks.$current.withValue(held) { try await body(lock) }
            }
        } catch {
            _ = await releaseUntilDone(lock, onFailure: { _ in })
            // Cancellation reads the same whether it came while waiting or while holding.
            if error is CancellationError {
                throw LockError(code: .cancelled, message: "the body holding \(name) was cancelled")
            }
            throw error
        }
        switch outcome {
        case .finished(let value):
            guard await releaseUntilDone(lock, onFailure: { _ in }) else {
                throw LockError(code: .ownershipLost, message: "\(name) was lost before the body finished")
            }
            return value
        case .lost:
            _ = await releaseUntilDone(lock, onFailure: { _ in })
            session.observer.ownershipLost(name: name, token: lock.token)
            throw LockError(code: .ownershipLost, message: "\(name) was lost while held (token \(lock.token))")
        }
    }

    /// Throws `.wouldDeadlock` when this task holds a guard of this queue on this session already
    /// (through an enclosing `with…Lock`) and `conflicts` says the new request would wait for it.
    func checkNotHeldByThisTask(conflicts: (LockGuard) -> Bool = { _ in true }) throws {
        if let held = HeldLocks.current.held(sessionKey), conflicts(held) {
            throw LockError(code: .wouldDeadlock, message: "this task already holds \(name) on this session")
        }
    }
}

/// The guards the current task holds through a `with…Lock` scope, by queue and session.
struct HeldLocks: Sendable {
    var guards: [EtcdKey: LockGuard] = [:]

    @TaskLocal static var current = HeldLocks()

    /// Task-locals are inherited by tasks started in the scope, which can outlive it: a guard
    /// counts only while it has not been released.
    func held(_ holder: EtcdKey) -> LockGuard? {
        guard let lock = guards[holder], !lock.isReleased else { return nil }
        return lock
    }

    func adding(_ lock: LockGuard, as holder: EtcdKey) -> HeldLocks {
        var copy = self
        copy.guards[holder] = lock
        return copy
    }
}
