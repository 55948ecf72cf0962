import Etcd
import EtcdLock

/// The recipe `etcdlock lock` runs COMMAND under: the mutex, one side of a read/write lock, or a
/// semaphore's permit. Acquiring, supervising and releasing look the same whichever it is.
enum LockRecipe: Sendable {
    case mutex(EtcdMutex)
    case read(EtcdReadWriteLock)
    case write(EtcdReadWriteLock)
    case semaphore(EtcdSemaphore)

    /// What the command line asked for: `--read`, `--write`, `--permits N`, or none of them.
    enum Choice: Sendable, Equatable {
        case exclusive
        case read
        case write
        case permits(Int)
    }

    /// The recipe for `choice` on the lock `name`; `lockDelay` applies to all but a semaphore.
    init(_ choice: Choice, name: String, session: EtcdSession, namespace: String, lockDelay: Duration?) throws {
        switch choice {
        case .exclusive:
            self = .mutex(try EtcdMutex(name, session: session, namespace: namespace, lockDelay: lockDelay))
        case .read:
            self = .read(try EtcdReadWriteLock(name, session: session, namespace: namespace, lockDelay: lockDelay))
        case .write:
            self = .write(try EtcdReadWriteLock(name, session: session, namespace: namespace, lockDelay: lockDelay))
        case .permits(let permits):
            self = .semaphore(try EtcdSemaphore(name, permits: permits, session: session, namespace: namespace))
        }
    }

    /// The key prefix the recipe queues under.
    var prefix: EtcdKey {
        switch self {
        case .mutex(let mutex): mutex.prefix
        case .read(let lock), .write(let lock): lock.prefix
        case .semaphore(let semaphore): semaphore.prefix
        }
    }

    /// Waits for the hold, at most `timeout` (see ``EtcdMutex/lock(timeout:)``).
    func acquire(timeout: Duration?) async throws -> LockGuard {
        switch self {
        case .mutex(let mutex): try await mutex.lock(timeout: timeout)
        case .read(let lock): try await lock.read(timeout: timeout)
        case .write(let lock): try await lock.write(timeout: timeout)
        case .semaphore(let semaphore): try await semaphore.acquire(timeout: timeout)
        }
    }

    /// Takes the hold only if it is free now (see ``EtcdMutex/tryLock()``).
    func tryAcquire() async throws -> TryLockOutcome {
        switch self {
        case .mutex(let mutex): try await mutex.tryLock()
        case .read(let lock): try await lock.tryRead()
        case .write(let lock): try await lock.tryWrite()
        case .semaphore(let semaphore): try await semaphore.tryAcquire()
        }
    }

    /// Waits until `lock` is lost and says how (see ``EtcdMutex/waitUntilLost(_:)``).
    func waitUntilLost(_ lock: LockGuard) async throws -> LockLoss {
        switch self {
        case .mutex(let mutex): try await mutex.waitUntilLost(lock)
        case .read(let rwlock), .write(let rwlock): try await rwlock.waitUntilLost(lock)
        case .semaphore(let semaphore): try await semaphore.waitUntilLost(lock)
        }
    }

    /// Releases `lock`, insisting while etcd is unreachable (see ``EtcdMutex/unlockUntilDone(_:onFailure:)``).
    func releaseUntilDone(_ lock: LockGuard, onFailure: @escaping @Sendable (any Error) -> Void) async -> Bool {
        switch self {
        case .mutex(let mutex): await mutex.unlockUntilDone(lock, onFailure: onFailure)
        case .read(let rwlock), .write(let rwlock): await rwlock.unlockUntilDone(lock, onFailure: onFailure)
        case .semaphore(let semaphore): await semaphore.releaseUntilDone(lock, onFailure: onFailure)
        }
    }

    /// How `--try` reports that the hold is not free: who is at the head of the queue.
    func contention(_ holder: LockHolder, name: String) -> String {
        switch self {
        case .semaphore(let semaphore):
            let owner = LockInspection.semaphoreRecord(Array(holder.owner.utf8)).owner
            return "no permit of \(name) is free (\(semaphore.permits) held; the oldest by \(Console.field(owner)), token \(holder.token))"
        case .mutex, .read, .write:
            return "\(name) is held by \(Console.field(holder.owner)) (token \(holder.token))"
        }
    }
}
