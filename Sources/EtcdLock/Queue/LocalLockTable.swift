import Synchronization

/// Mutual exclusion between tasks of one process that share a session: they would map to the
/// same lock key, so they queue here, first come first served, before going to etcd.
final class LocalLockTable: Sendable {
    private struct Queue {
        var isHeld = false
        var waiters: [(id: UInt64, continuation: CheckedContinuation<Void, any Error>)] = []
    }

    private let queues = Mutex<[String: Queue]>([:])
    /// Numbers waiters (a `UUID` would read /dev/urandom on every lock on Linux).
    private let nextWaiter = Atomic<UInt64>(0)
    private let closed = Mutex(false)

    /// Thrown to local waiters once the session is lost: nothing of it can be acquired any more.
    struct Closed: Error {}

    /// Fails every waiter and every later ``acquire(_:)`` with ``Closed`` (the session was lost).
    func close() {
        let waiters = queues.withLock { queues -> [CheckedContinuation<Void, any Error>] in
            closed.withLock { $0 = true }
            var waiters: [CheckedContinuation<Void, any Error>] = []
            for (name, queue) in queues {
                waiters += queue.waiters.map(\.continuation)
                queues[name]?.waiters = []
            }
            return waiters
        }
        for waiter in waiters { waiter.resume(throwing: Closed()) }
    }

    /// Takes `name` for this process, waiting behind earlier takers; throws `CancellationError`
    /// when the task is cancelled while waiting, ``Closed`` once the session is lost.
    func acquire(_ name: String) async throws {
        let id = nextWaiter.add(1, ordering: .relaxed).newValue
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Decided under the lock the cancellation handler also takes: a task cancelled before
                // it got here must not register a waiter nobody would ever remove.
                let outcome = queues.withLock { queues -> Result<Bool, any Error> in
                    if Task.isCancelled { return .failure(CancellationError()) }
                    if closed.withLock({ $0 }) { return .failure(Closed()) }
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
    /// - Throws: `CancellationError` when the task is cancelled first; ``Closed`` once the session is lost.
    func acquire(_ name: String, until deadline: ContinuousClock.Instant) async throws -> Bool {
        if closed.withLock({ $0 }) { throw Closed() }
        if tryAcquire(name) { return true }
        enum Outcome: Sendable { case acquired, deadlinePassed, cancelled, closed }
        let (first, holds) = await withTaskGroup(of: Outcome.self) { group -> (Outcome, Bool) in
            group.addTask {
                do {
                    try await self.acquire(name)
                    return .acquired
                } catch is Closed {
                    return .closed
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
        if first == .closed { throw Closed() }
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
