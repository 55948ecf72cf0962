import Etcd

extension LockQueue {
    /// Acquires `entry` (see ``acquire(_:deadline:)``) and returns its guard.
    func hold(_ entry: Entry, timeout: Duration?) async throws -> LockGuard {
        LockGuard(name: name, ticket: try await acquire(entry, deadline: timeout.map { .now + $0 }), mode: entry.mode)
    }

    /// Acquires `entry` only if its rule admits it at once (see ``tryAcquire(_:)``); reports the
    /// queue's head, described by `holder`, when not.
    func tryHold(_ entry: Entry, holder: (KeyValue) -> LockHolder = LockHolder.init(entry:)) async throws -> TryLockOutcome {
        switch try await tryAcquire(entry) {
        case .acquired(let ticket):
            return .acquired(LockGuard(name: name, ticket: ticket, mode: entry.mode))
        case .blocked(let head):
            return .heldByOther(head.map(holder) ?? LockHolder(head: nil, orThisSessionOf: self))
        }
    }
}
