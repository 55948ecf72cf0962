import Etcd
import Foundation

/// A distributed read/write lock with fencing tokens: any number of readers at once, or one
/// writer; FIFO by arrival in one queue per name.
///
/// ```swift
/// let lock = try EtcdReadWriteLock("catalog", session: session)
/// let snapshot = try await lock.withReadLock { _ in try await readCatalog() }
/// try await lock.withWriteLock { writer in
///     try await lock.fenced(writer, Txn(then: [.put("/catalog/version", value: "8".utf8)]))
/// }
/// ```
///
/// **Admission.** Readers queue under `<prefix>read/` and writers under `<prefix>write/`, one key
/// per acquisition (`<lease-hex>-<n>`), all ordered by create revision. A reader is admitted when
/// no *writer* is ahead of it and watches only the last writer ahead; a writer is admitted when
/// nothing is ahead and watches only the last key ahead. A release wakes one waiter (or, when a
/// writer leaves, the readers right behind it, each watching it): requests per handoff stay
/// constant as the queue grows. A waiting writer blocks every later reader, so writers never
/// starve.
///
/// **Fencing.** Every guard's token is its key's create revision, from one sequence per lock: a
/// writer's token is greater than every earlier reader's and writer's, and a reader's token is
/// greater than every earlier writer's. A resource that keeps the newest token it has seen can
/// therefore reject a write whose token is not greater than that (``FencingGate``), and a read
/// whose token is smaller than the newest *writer's* token (the reader queued before that
/// writer, so its hold ended before the writer's began). Readers admitted together share the
/// epoch of the last writer before them. ``fenced(_:_:timeout:)`` is for write guards.
public struct EtcdReadWriteLock: Sendable {
    /// The lock's name.
    public let name: String
    /// The session whose lease keeps this lock's keys alive.
    public let session: EtcdSession
    let queue: LockQueue

    /// How long the lock stays unavailable after a writer's session is *lost* (see ``LockDelay``).
    public let lockDelay: Duration?

    /// A read/write lock named `name` in `namespace`, held through `session`.
    ///
    /// - Parameter lockDelay: after a *writer's* session is lost (expired, not released), keep the
    ///   lock unavailable to readers and writers this long (see ``EtcdMutex/init(_:session:namespace:lockDelay:)``).
    /// - Throws: ``LockError`` `.invalidName` (see ``EtcdMutex/init(_:session:namespace:lockDelay:)``),
    ///   `.invalidArgument` for a lock-delay out of range.
    public init(_ name: String, session: EtcdSession, namespace: String = "default", lockDelay: Duration? = nil) throws {
        self.name = name
        self.session = session
        self.lockDelay = try LockDelay.validated(lockDelay)
        queue = try LockQueue(session: session, namespace: namespace, kind: .readWriteLock, name: name)
        delayMarker = try self.lockDelay.map {
            LockQueue.DelayMarker(
                key: try LockQueue.delayMarkerKey(namespace: namespace, kind: .readWriteLock, name: name), delay: $0, recordsOwn: true)
        }
    }

    /// The writers' lock-delay marker (readers wait for it, only writers record it).
    let delayMarker: LockQueue.DelayMarker?

    /// The key prefix under which readers and writers queue.
    public var prefix: EtcdKey { queue.prefix }

    /// The writers' part of the queue.
    var writers: EtcdKey { prefix.appending("write/") }

    private func entry(_ mode: LockMode) -> LockQueue.Entry {
        let record = QueueEntryRecord(queuedAt: Date(), owner: session.owner)
        if mode == .read {
            // A reader waits only for the last writer ahead of it.
            var readersMarker = delayMarker
            readersMarker?.recordsOwn = false
            return LockQueue.Entry(
                key: queue.entryKey(part: "read"), record: record, rule: NothingAhead(blockingKeys: writers), delay: readersMarker,
                mode: .read)
        }
        // A writer waits for the last key of either kind ahead of it.
        return LockQueue.Entry(key: queue.entryKey(part: "write"), record: record, rule: NothingAhead(), delay: delayMarker, mode: .write)
    }

    /// Acquires a read hold, waiting as long as needed or until `timeout`.
    ///
    /// - Throws: as ``EtcdMutex/lock(timeout:)``; `.wouldDeadlock` when this task holds this lock
    ///   already (through ``withReadLock(timeout:reentrant:isolation:_:)`` or
    ///   ``withWriteLock(timeout:reentrant:isolation:_:)``): a second read would wait behind any
    ///   writer queued meanwhile, which waits for the first.
    public func read(timeout: Duration? = nil) async throws -> LockGuard {
        try await acquire(.read, timeout: timeout)
    }

    /// Acquires the write hold, waiting as long as needed or until `timeout`.
    ///
    /// - Throws: as ``read(timeout:)``.
    public func write(timeout: Duration? = nil) async throws -> LockGuard {
        try await acquire(.write, timeout: timeout)
    }

    private func acquire(_ mode: LockMode, timeout: Duration?) async throws -> LockGuard {
        try queue.checkNotHeldByThisTask()
        return try await queue.hold(entry(mode), timeout: timeout)
    }

    /// Acquires a read hold only if no writer holds the lock or waits for it.
    ///
    /// - Returns: ``TryLockOutcome/heldByOther(_:)`` with the queue's head when not admitted;
    ///   nothing of the attempt is left in etcd.
    public func tryRead() async throws -> TryLockOutcome { try await tryAcquire(.read) }

    /// Acquires the write hold only if nobody holds the lock or waits for it.
    public func tryWrite() async throws -> TryLockOutcome { try await tryAcquire(.write) }

    private func tryAcquire(_ mode: LockMode) async throws -> TryLockOutcome {
        try await queue.tryHold(entry(mode))
    }

    /// Releases a read or write hold, as ``EtcdMutex/unlock(_:)`` does.
    public func unlock(_ lock: LockGuard) async throws {
        try await queue.release(lock)
    }

    /// Releases a hold, insisting while etcd cannot be reached, as ``EtcdMutex/unlockUntilDone(_:onFailure:)`` does.
    public func unlockUntilDone(_ lock: LockGuard, onFailure: @escaping @Sendable (any Error) -> Void = { _ in }) async -> Bool {
        await queue.releaseUntilDone(lock, onFailure: onFailure)
    }

    /// Runs `txn` only if `writer` still holds the write lock, atomically (see ``EtcdMutex/fenced(_:_:timeout:)``).
    ///
    /// - Throws: ``LockError`` `.invalidArgument` for a read guard (a reader's writes are not
    ///   exclusive); `.ownershipLost` when the lock is no longer held by this guard.
    @discardableResult
    public func fenced(_ writer: LockGuard, _ txn: Txn, timeout: Duration? = nil) async throws -> TxnResult {
        guard writer.mode == .write else {
            throw LockError(code: .invalidArgument, message: "a fenced write needs the write hold of \(name), not a \(writer.mode) hold")
        }
        return try await queue.fenced(writer, txn, timeout: timeout)
    }

    /// Waits until the hold is lost, as ``EtcdMutex/waitUntilLost(_:)`` does.
    public func waitUntilLost(_ lock: LockGuard) async throws -> LockLoss {
        try await queue.waitUntilLost(lock.key, revision: lock.token.revision)
    }

    /// Runs `body` under a read hold, as ``EtcdMutex/withLock(timeout:reentrant:isolation:_:)`` does.
    ///
    /// - Parameter reentrant: inside a read or write scope of this lock on this session, run
    ///   `body` under the enclosing hold.
    public func withReadLock<Result>(
        timeout: Duration? = nil, reentrant: Bool = false,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockGuard) async throws -> Result
    ) async throws -> Result {
        try await queue.withHold(reentrant: reentrant, isolation: isolation, acquire: { try await read(timeout: timeout) }, body)
    }

    /// Runs `body` under the write hold, as ``EtcdMutex/withLock(timeout:reentrant:isolation:_:)`` does.
    ///
    /// - Parameter reentrant: inside a write scope of this lock on this session, run `body` under
    ///   it (inside a read scope, a write would wait for itself: `.wouldDeadlock`).
    public func withWriteLock<Result>(
        timeout: Duration? = nil, reentrant: Bool = false,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockGuard) async throws -> Result
    ) async throws -> Result {
        try await queue.withHold(
            reentrant: reentrant, reuse: { $0.mode == .write }, isolation: isolation,
            acquire: { try await write(timeout: timeout) }, body)
    }

    /// Who holds the lock now: the writer, or every reader admitted together; empty when free.
    public func holders() async throws -> [LockHolder] {
        try await Self.holders(in: session.client, prefix: prefix)
    }

    /// The holders of the read/write lock queued under `prefix`: the head if it is a writer,
    /// otherwise the readers before the first writer.
    static func holders(in client: EtcdClient, prefix: EtcdKey) async throws -> [LockHolder] {
        let queue = try await client.range(RangeRequest(.prefix(prefix), sort: .init(.createRevision, .ascending)))
        let writers = prefix.appending("write/").description
        var holders: [LockHolder] = []
        for entry in queue.keyValues {
            let isWriter = entry.key.description.hasPrefix(writers)
            if isWriter {
                if holders.isEmpty { holders.append(LockHolder(entry: entry)) }
                break
            }
            holders.append(LockHolder(entry: entry))
        }
        return holders
    }
}
