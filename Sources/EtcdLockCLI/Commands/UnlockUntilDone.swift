import Etcd
import EtcdLock

extension EtcdMutex {
    /// Releases `lock`, calling ``unlock(_:)`` again while etcd cannot be reached, until the
    /// release lands, the lock turns out lost (`.notHeld`), or the session ends.
    ///
    /// A failed `unlock` keeps the guard held (its key may still be in etcd), and with it this
    /// session's local turn on the lock: a loop that ignored the failure would wait forever at its
    /// next `lock()`. The demo's workers and the verifier's clients release this way.
    ///
    /// - Parameter onFailure: told about each failed attempt (typed errors only).
    /// - Returns: whether the release landed (`false`: lost before, or the session ended first).
    /// - Throws: errors that are neither ``LockError`` nor ``EtcdError``, and cancellation.
    func unlockUntilDone(_ lock: LockGuard, onFailure: (any Error) -> Void = { _ in }) async throws -> Bool {
        while true {
            do {
                try await unlock(lock)
                return true
            } catch let error as LockError where error.code == .notHeld {
                onFailure(error)
                return false
            } catch let error where error is LockError || error is EtcdError {
                onFailure(error)
                guard session.isValid else { return false }
                // etcd is unreachable or electing a leader: try again soon.
                try await Task.sleep(for: .milliseconds(100))
            }
        }
    }
}
