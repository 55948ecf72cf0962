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
///
/// An enqueue whose outcome was unknown can still land *after* its withdrawal: a member that was
/// paused or partitioned processes the request it had buffered when it resumes. Its key is
/// therefore looked at again, under the local turn, at growing intervals (1 s up to 30 s) for as
/// long as the session lives, and deleted if it came back while no attempt of the session owns it.
final class PendingWithdrawals: Sendable {
    struct Entry: Sendable, Hashable {
        /// The waiter key to delete.
        var key: EtcdKey
        /// Its create revision when known (then only that key is deleted), `nil` after an
        /// enqueue whose outcome is unknown.
        var revision: Revision?
    }

    private struct Recheck: Sendable {
        var key: EtcdKey
        var due: ContinuousClock.Instant
        var pause: Duration
    }

    private struct State {
        var entries: [Entry] = []
        var rechecks: [Recheck] = []
        var wake: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())

    /// The withdrawals still to land.
    var count: Int { state.withLock { $0.entries.count } }

    /// Keys whose late reappearance is still watched for.
    var recheckCount: Int { state.withLock { $0.rechecks.count } }

    /// Watches `key` for a late copy of an enqueue whose outcome was unknown (see the type).
    func recheckLater(_ key: EtcdKey) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard !state.rechecks.contains(where: { $0.key == key }) else { return nil }
            state.rechecks.append(Recheck(key: key, due: .now + .seconds(1), pause: .seconds(1)))
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

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
            let (entries, due, nextDue) = state.withLock { state in
                let now = ContinuousClock.now
                return (state.entries, state.rechecks.filter { $0.due <= now }, state.rechecks.map(\.due).min())
            }
            if entries.isEmpty && due.isEmpty {
                await waitForEntry(orUntil: nextDue)
                continue
            }
            for recheck in due {
                await Self.deleteIfBack(recheck.key, client: client, localLocks: localLocks)
                state.withLock { state in
                    guard let index = state.rechecks.firstIndex(where: { $0.key == recheck.key }) else { return }
                    let next = min(recheck.pause * 2, .seconds(30))
                    state.rechecks[index] = Recheck(key: recheck.key, due: .now + next, pause: next)
                }
            }
            var failed = false
            for entry in entries {
                if await Self.withdraw(entry, client: client, localLocks: localLocks) {
                    state.withLock { $0.entries.removeAll { $0 == entry } }
                    if entry.revision == nil { recheckLater(entry.key) }
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

    /// Waits for a new entry or recheck, or until `deadline` (when given); returns at once when cancelled.
    private func waitForEntry(orUntil deadline: ContinuousClock.Instant?) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { _ = await self.next() }
            if let deadline {
                group.addTask { try? await Task.sleep(until: deadline, clock: .continuous) }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Deletes `key` if it is there while no attempt of the session owns it (under the local turn;
    /// when an attempt has the turn, that attempt owns whatever key there is).
    private static func deleteIfBack(_ key: EtcdKey, client: EtcdClient, localLocks: LocalLockTable) async {
        guard localLocks.tryAcquire(key.description) else { return }
        defer { localLocks.release(key.description) }
        _ = try? await client.txn(Txn(then: [.delete(.key(key))]), retry: .idempotent, timeout: .seconds(2))
    }

    /// The entries to work on, waiting until there is one; empty when cancelled.
    private func next() async -> [Entry] {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    let now = ContinuousClock.now
                    if !state.entries.isEmpty || state.rechecks.contains(where: { $0.due <= now }) || Task.isCancelled {
                        return true
                    }
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
    /// While another attempt of the session has the turn it is not waited for (the session's other
    /// withdrawals must not wait behind a long hold): the next round tries again.
    private static func withdraw(_ entry: Entry, client: EtcdClient, localLocks: LocalLockTable) async -> Bool {
        guard localLocks.tryAcquire(entry.key.description) else { return false }
        defer { localLocks.release(entry.key.description) }
        do {
            _ = try await client.txn(LockQueue.deletion(of: entry.key, createdAt: entry.revision), retry: .idempotent, timeout: .seconds(2))
            return true
        } catch {
            return false
        }
    }
}
