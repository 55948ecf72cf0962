import Etcd
import Foundation

/// A distributed counting semaphore: at most `permits` holders at once, FIFO by arrival, each
/// with its own fencing token.
///
/// ```swift
/// let slots = try EtcdSemaphore("exports", permits: 4, session: session)
/// try await slots.withPermit(timeout: .seconds(60)) { permit in
///     try await runExport(fencedBy: permit.token)
/// }
/// ```
///
/// **Admission.** Each acquisition queues one key `<prefix><lease-hex>-<n>`; the first `permits`
/// keys by create revision hold a permit. A waiter reads only the `permits + 1` entries nearest
/// ahead of it (one bounded read) and watches one thing:
/// - exactly `permits` ahead: it is the *first waiter*, the only one a holder's release concerns.
///   It watches the queue for deletions of keys created before its own (the events carry the
///   deleted key, so deletions behind it are ignored without a read);
/// - more ahead: it watches only the key just ahead of it. That waiter, once admitted, writes its
///   key again (same value, same lease: the token does not change), which wakes its successor,
///   who is then the first waiter or admitted. A later waiter is never admitted before the one
///   ahead of it, so this chain misses nothing.
///
/// So a release wakes one waiter, and each admission costs a constant number of requests (a
/// read, a watch, a second read closing the gap between them, and the admitted entry's one
/// rewrite), however long the queue. A waiter whose predecessor is paused while being admitted
/// waits until that predecessor wakes or its session expires.
///
/// **Permits are fixed per name.** Each key records the count it was acquired with; an
/// acquisition that finds the queue's head using another count is refused with
/// `.permitsMismatch` and leaves nothing behind.
///
/// **Fencing.** A permit's token is its key's create revision; ``fenced(_:_:timeout:)`` runs a
/// transaction only while the permit is still held. Tokens of one semaphore increase with
/// arrival, so a resource guarded by one permit slot at a time can keep the newest it has seen.
public struct EtcdSemaphore: Sendable {
    /// The semaphore's name.
    public let name: String
    /// How many holders it admits at once.
    public let permits: Int
    /// The session whose lease keeps this semaphore's keys alive.
    public let session: EtcdSession
    let queue: LockQueue

    /// The largest permit count accepted.
    public static let maximumPermits = 10_000

    /// A semaphore named `name` in `namespace` with `permits` permits, used through `session`.
    ///
    /// - Throws: ``LockError`` `.invalidName`; `.invalidArgument` unless `permits` is between 1
    ///   and ``maximumPermits``.
    public init(_ name: String, permits: Int, session: EtcdSession, namespace: String = "default") throws {
        try self.init(name, permits: permits, session: session, namespace: namespace, store: nil)
    }

    /// A semaphore whose queue operations go through `store` (tests interpose on them).
    init(_ name: String, permits: Int, session: EtcdSession, namespace: String, store: (any QueueStore)?) throws {
        guard (1...Self.maximumPermits).contains(permits) else {
            throw LockError(
                code: .invalidArgument,
                message: "a semaphore needs between 1 and \(Self.maximumPermits) permits, not \(permits)")
        }
        self.name = name
        self.permits = permits
        self.session = session
        queue = try LockQueue(session: session, namespace: namespace, kind: .semaphore, name: name, store: store)
    }

    /// The key prefix under which holders and waiters queue.
    public var prefix: EtcdKey { queue.prefix }

    private var entry: LockQueue.Entry {
        let permits = self.permits
        let name = self.name
        return LockQueue.Entry(
            key: queue.entryKey(), record: QueueEntryRecord(queuedAt: Date(), permits: permits, owner: session.owner),
            rule: FirstPermitsAdmitted(permits: permits),
            checkHead: { head in
                let theirs = QueueEntryRecord(head.value).permits
                guard let theirs, theirs != permits else { return nil }
                return LockError(
                    code: .permitsMismatch,
                    message: "\(name) is held with \(theirs) permits; this acquisition asked for \(permits)")
            },
            mode: .permit)
    }

    /// Acquires a permit, waiting as long as needed or until `timeout`.
    ///
    /// - Throws: as ``EtcdMutex/lock(timeout:)``; `.permitsMismatch`; `.wouldDeadlock` when the
    ///   semaphore has one permit and this task holds it (through ``withPermit(timeout:isolation:_:)``).
    public func acquire(timeout: Duration? = nil) async throws -> LockGuard {
        try queue.checkNotHeldByThisTask(conflicts: { _ in permits == 1 })
        return try await queue.hold(entry, timeout: timeout)
    }

    /// Acquires a permit only if one is free and nobody waits.
    ///
    /// - Returns: ``TryLockOutcome/heldByOther(_:)`` with the queue's head when none is free;
    ///   nothing of the attempt is left in etcd.
    public func tryAcquire() async throws -> TryLockOutcome {
        try await queue.tryHold(entry, holder: LockHolder.init(permitEntry:))
    }

    /// Gives a permit back, as ``EtcdMutex/unlock(_:)`` releases a lock.
    public func release(_ permit: LockGuard) async throws {
        try await queue.release(permit)
    }

    /// Gives a permit back, insisting while etcd cannot be reached, as ``EtcdMutex/unlockUntilDone(_:onFailure:)`` does.
    public func releaseUntilDone(_ permit: LockGuard, onFailure: @escaping @Sendable (any Error) -> Void = { _ in }) async -> Bool {
        await queue.releaseUntilDone(permit, onFailure: onFailure)
    }

    /// Runs `txn` only if `permit` is still held, atomically (see ``EtcdMutex/fenced(_:_:timeout:)``).
    @discardableResult
    public func fenced(_ permit: LockGuard, _ txn: Txn, timeout: Duration? = nil) async throws -> TxnResult {
        try await queue.fenced(permit, txn, timeout: timeout)
    }

    /// Waits until the permit is lost, as ``EtcdMutex/waitUntilLost(_:)`` does.
    public func waitUntilLost(_ permit: LockGuard) async throws -> LockLoss {
        try await queue.waitUntilLost(permit.key, revision: permit.token.revision)
    }

    /// Runs `body` holding a permit, as ``EtcdMutex/withLock(timeout:reentrant:isolation:_:)`` does.
    public func withPermit<Result>(
        timeout: Duration? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (LockGuard) async throws -> Result
    ) async throws -> Result {
        try await queue.withHold(reentrant: false, isolation: isolation, acquire: { try await acquire(timeout: timeout) }, body)
    }

    /// The current permit holders, oldest first: as many as the count the oldest recorded.
    public func holders() async throws -> [LockHolder] {
        let head = try await session.client.range(
            RangeRequest(.prefix(prefix), limit: Int64(Self.maximumPermits), sort: .init(.createRevision, .ascending)))
        guard let first = head.keyValues.first else { return [] }
        let count = QueueEntryRecord(first.value).permits ?? permits
        return head.keyValues.prefix(count).map(LockHolder.init(permitEntry:))
    }
}

/// The semaphore's rule: the first `permits` entries are admitted (see ``EtcdSemaphore``).
struct FirstPermitsAdmitted: AdmissionRule {
    let permits: Int

    func slice(ahead revision: Revision, in prefix: EtcdKey) -> RangeRequest {
        // With values: the permit counts the entries ahead recorded.
        entriesAhead(of: revision, in: .prefix(prefix), limit: Int64(permits) + 1, keysOnly: false)
    }

    func admission(of revision: Revision, ahead: [KeyValue], in prefix: EtcdKey) -> Admission {
        // An entry ahead that counts permits otherwise (one refused for that, not yet withdrawn, that
        // became the head a later caller was checked against) is waited out, nearest first: admitting
        // beside it would put holders of two counts in one semaphore.
        if let foreign = ahead.first(where: { QueueEntryRecord($0.value).permits.map { $0 != permits } ?? false }) {
            return .blocked(Blocker(watched: .key(foreign.key), seen: [foreign.createRevision]))
        }
        if ahead.count < permits { return .admitted }
        if ahead.count == permits {
            // The first waiter: any holder's release admits it.
            return .blocked(
                Blocker(watched: .prefix(prefix), onlyKeysCreatedBefore: revision, seen: ahead.map(\.createRevision)))
        }
        // Behind another waiter: only that waiter's admission (announced) or departure matters.
        let nearest = ahead[0]
        return .blocked(Blocker(watched: .key(nearest.key), wakesOnPut: true, seen: [nearest.createRevision, nearest.modRevision]))
    }

    var announcesAdmission: Bool { true }
}

extension LockHolder {
    /// The holder a semaphore entry stands for: its owner without the recorded permit count.
    init(permitEntry entry: KeyValue) {
        self.init(key: entry.key, token: FencingToken(entry.createRevision), owner: QueueEntryRecord(entry.value).owner, lease: entry.lease)
    }
}
