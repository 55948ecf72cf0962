import Foundation
import Synchronization

/// Mutual exclusion between tasks of one process that share a session: they would map to the
/// same lock key, so they queue here, first come first served, before going to etcd.
final class LocalLockTable: Sendable {
    private struct Queue {
        var isHeld = false
        var waiters: [(id: UUID, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let queues = Mutex<[String: Queue]>([:])

    /// Takes `name` for this process, waiting behind earlier takers; throws `CancellationError`
    /// when the task is cancelled while waiting.
    func acquire(_ name: String) async throws {
        let id = UUID()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Decided under the lock the cancellation handler also takes: a task cancelled before
                // it got here must not register a waiter nobody would ever remove.
                let outcome = queues.withLock { queues -> Result<Bool, CancellationError> in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    var queue = queues[name, default: Queue()]
                    defer { queues[name] = queue }
                    if !queue.isHeld {
                        queue.isHeld = true
                        return .success(true)
                    }
                    queue.waiters.append((id, continuation))
                    return .success(false)
                }
                switch outcome {
                case .success(true): continuation.resume()
                case .success(false): break
                case .failure(let error): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            // Runs after `Task.isCancelled` became true: either the waiter is registered (remove it)
            // or registration will see the flag.
            let removed = queues.withLock { queues -> CheckedContinuation<Void, any Error>? in
                guard var queue = queues[name], let index = queue.waiters.firstIndex(where: { $0.id == id }) else {
                    return nil
                }
                let waiter = queue.waiters.remove(at: index)
                queues[name] = queue
                return waiter.continuation
            }
            removed?.resume(throwing: CancellationError())
        }
    }

    /// Takes `name` like ``acquire(_:)``, giving up at `deadline`.
    ///
    /// - Returns: `false` when the deadline passed first (nothing is held then).
    /// - Throws: `CancellationError` when the task is cancelled first.
    func acquire(_ name: String, until deadline: ContinuousClock.Instant) async throws -> Bool {
        if tryAcquire(name) { return true }
        enum Outcome: Sendable { case acquired, deadlinePassed, cancelled }
        let (first, holds) = await withTaskGroup(of: Outcome.self) { group -> (Outcome, Bool) in
            group.addTask {
                do {
                    try await self.acquire(name)
                    return .acquired
                } catch {
                    return .cancelled
                }
            }
            group.addTask {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .deadlinePassed
                } catch {
                    return .cancelled
                }
            }
            let first = await group.next() ?? .cancelled
            group.cancelAll()
            // The other child may have taken the name just as the first one finished.
            var holds = first == .acquired
            for await other in group where other == .acquired { holds = true }
            return (first, holds)
        }
        if first == .acquired { return true }
        if holds { release(name) }
        if first == .deadlinePassed { return false }
        throw CancellationError()
    }

    /// Takes `name` only if nobody in this process holds it.
    func tryAcquire(_ name: String) -> Bool {
        queues.withLock { queues in
            var queue = queues[name, default: Queue()]
            if queue.isHeld { return false }
            queue.isHeld = true
            queues[name] = queue
            return true
        }
    }

    /// Hands `name` to the next waiter, or frees it.
    func release(_ name: String) {
        let next = queues.withLock { queues -> CheckedContinuation<Void, any Error>? in
            guard var queue = queues[name] else { return nil }
            if queue.waiters.isEmpty {
                queues[name] = nil
                return nil
            }
            let waiter = queue.waiters.removeFirst()
            queues[name] = queue
            return waiter.continuation
        }
        next?.resume()
    }
}
