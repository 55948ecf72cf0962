import Etcd
import EtcdLock
import LockVerification

/// One lock of a verification run, made by the recipe under test: what a client's turn acquires,
/// fences its writes with and releases.
enum VerifiedLock: Sendable {
    case mutex(EtcdMutex)
    case readWriteLock(EtcdReadWriteLock)
    case semaphore(EtcdSemaphore)

    /// The lock `name` of `recipe`, held through `session`.
    init(_ recipe: VerifiedRecipe, name: String, session: EtcdSession) throws {
        switch recipe {
        case .mutex: self = .mutex(try EtcdMutex(name, session: session))
        case .readWriteLock: self = .readWriteLock(try EtcdReadWriteLock(name, session: session))
        case .semaphore(let permits): self = .semaphore(try EtcdSemaphore(name, permits: permits, session: session))
        }
    }

    /// The prefix under which `name` of `recipe` queues, learned from the recipe itself (a
    /// short-lived session on `client` makes the lock value; it queues nothing).
    static func prefix(_ recipe: VerifiedRecipe, name: String, client: EtcdClient) async throws -> EtcdKey {
        if recipe == .mutex { return try LockInspection.prefix(name) }
        return try await EtcdSession.withSession(client, ttl: .seconds(10)) { session in
            try VerifiedLock(recipe, name: name, session: session).prefix
        }
    }

    var prefix: EtcdKey {
        switch self {
        case .mutex(let mutex): mutex.prefix
        case .readWriteLock(let lock): lock.prefix
        case .semaphore(let semaphore): semaphore.prefix
        }
    }

    /// Acquires a hold: the mutex, a read or the write hold, or a permit (`mode` matters only
    /// for the read/write lock).
    func acquire(_ mode: LockMode, timeout: Duration) async throws -> LockGuard {
        switch self {
        case .mutex(let mutex): try await mutex.lock(timeout: timeout)
        case .readWriteLock(let lock): try await mode == .read ? lock.read(timeout: timeout) : lock.write(timeout: timeout)
        case .semaphore(let semaphore): try await semaphore.acquire(timeout: timeout)
        }
    }

    /// Runs `txn` only while `hold` is held (the recipe's own fencing).
    func fenced(_ hold: LockGuard, _ txn: Txn) async throws {
        switch self {
        case .mutex(let mutex): try await mutex.fenced(hold, txn)
        case .readWriteLock(let lock): try await lock.fenced(hold, txn)
        case .semaphore(let semaphore): try await semaphore.fenced(hold, txn)
        }
    }

    /// What runs a write only while `hold` is held.
    func fence(_ hold: LockGuard) -> VerifyClientCommand.Fence {
        { txn in try await fenced(hold, txn) }
    }

    /// Releases `hold`, insisting while etcd cannot be reached; whether it was released.
    func releaseUntilDone(_ hold: LockGuard, onFailure: @escaping @Sendable (any Error) -> Void) async -> Bool {
        switch self {
        case .mutex(let mutex): await mutex.unlockUntilDone(hold, onFailure: onFailure)
        case .readWriteLock(let lock): await lock.unlockUntilDone(hold, onFailure: onFailure)
        case .semaphore(let semaphore): await semaphore.releaseUntilDone(hold, onFailure: onFailure)
        }
    }
}

/// Parses `--recipe mutex|rwlock|semaphore` (default mutex) and `--permits N` (default 2, for a
/// semaphore only).
func parseRecipe(_ arguments: inout Arguments) throws -> VerifiedRecipe {
    let option = try arguments.option("--recipe") ?? "mutex"
    let permitsText = try arguments.option("--permits")
    guard let permits = Int(permitsText ?? "2"), (1...EtcdSemaphore.maximumPermits).contains(permits) else {
        throw UsageError(description: "--permits must be from 1 to \(EtcdSemaphore.maximumPermits)")
    }
    guard let recipe = VerifiedRecipe(option: option, permits: permits) else {
        throw UsageError(description: "--recipe must be mutex, rwlock or semaphore, not \(option)")
    }
    if permitsText != nil, !recipe.isSemaphore {
        throw UsageError(description: "--permits is for --recipe semaphore")
    }
    return recipe
}
