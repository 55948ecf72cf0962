import Etcd
import Synchronization

/// Waiter keys of a session whose withdrawal failed (etcd unreachable, an unknown outcome),
/// deleted in the background until the deletion lands or the session ends.
///
/// A waiter key nobody believes it owns is a phantom: under a live lease it blocks every later
/// locker until the session ends. A failed withdrawal therefore is not dropped: it is retried
/// here, with backoff, by a child task of the session's scope.
///
/// Each retry takes the session's local turn on the key first, like a `lock()` of the session
/// would: while it holds the turn no attempt of this session has a live key under that name, so
/// deleting the key cannot remove a newer attempt's key. A later attempt that got the turn first
/// found the key and adopted it (enqueueing is create-if-absent), and releases it itself.
final class PendingWithdrawals: Sendable {
    struct Entry: Sendable, Hashable {
        /// The waiter key to delete.
        var key: EtcdKey
        /// Its create revision when known (then only that key is deleted), `nil` after an
        /// enqueue whose outcome is unknown.
        var revision: Revision?
    }

    private struct State {
        var entries: [Entry] = []
        var wake: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// The withdrawals still to land.
    var count: Int { state.withLock { $0.entries.count } }

    /// Adds a withdrawal to retry.
    func add(_ entry: Entry) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if !state.entries.contains(entry) { state.entries.append(entry) }
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Retries pending withdrawals until cancelled (the session's scope ends; revoking its lease
    /// then removes whatever is left).
    func run(client: EtcdClient, localLocks: LocalLockTable) async {
        var pause = Duration.milliseconds(100)
        while !Task.isCancelled {
            let entries = await next()
            guard !entries.isEmpty else { return }
            var failed = false
            for entry in entries {
                if await Self.withdraw(entry, client: client, localLocks: localLocks) {
                    state.withLock { $0.entries.removeAll { $0 == entry } }
                } else {
                    failed = true
                }
            }
            guard failed else {
                pause = .milliseconds(100)
                continue
            }
            do { try await Task.sleep(for: pause) } catch { return }
            pause = min(pause * 2, .seconds(2))
        }
    }

    /// The entries to work on, waiting until there is one; empty when cancelled.
    private func next() async -> [Entry] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if !state.entries.isEmpty || Task.isCancelled { return true }
                    state.wake = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
            return Task.isCancelled ? [] : state.withLock { $0.entries }
        } onCancel: {
            let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
                defer { state.wake = nil }
                return state.wake
            }
            wake?.resume()
        }
    }

    /// One attempt under the session's local turn on the key; `true` once nothing is left to do.
    private static func withdraw(_ entry: Entry, client: EtcdClient, localLocks: LocalLockTable) async -> Bool {
        do {
            try await localLocks.acquire(entry.key.description)
        } catch {
            return true  // the session ended: its lease takes the key along
        }
        defer { localLocks.release(entry.key.description) }
        do {
            _ = try await client.txn(deletion(of: entry.key, createdAt: entry.revision), retry: .idempotent, timeout: .seconds(2))
            return true
        } catch {
            return false
        }
    }

    /// Deletes `key`, only if it is still the one created at `revision` when that is known.
    static func deletion(of key: EtcdKey, createdAt revision: Revision?) -> Txn {
        guard let revision else { return Txn(then: [.delete(.key(key))]) }
        return Txn(if: [.createRevision(of: key, .equal, revision)], then: [.delete(.key(key))])
    }
}
