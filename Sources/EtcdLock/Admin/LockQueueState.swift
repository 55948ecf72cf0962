import Etcd
import Foundation

/// One lock queue as an inspection sees it: who holds it and who waits, in order, by the
/// recipe's admission rule. `etcdlock inspect` and the lock service report it.
///
/// Read it with ``LockAdmin/queue(_:namespace:kind:revision:client:)``.
public struct LockQueueState: Sendable {
    /// The kinds of lock a name can have, by the key space each queues in.
    public enum Kind: String, Sendable, CaseIterable {
        /// A mutex (`etcdlock lock NAME`), under `/etcdlock/<ns>/lock/<name>/`.
        case lock
        /// A read/write lock (`--read`, `--write`), under `/etcdlock/<ns>/rwlock/<name>/`.
        case rwlock
        /// A semaphore (`--permits N`), under `/etcdlock/<ns>/semaphore/<name>/`.
        case semaphore

        /// The recipe whose keys this kind's queue holds.
        var recipe: RecipeKind {
            switch self {
            case .lock: .mutex
            case .rwlock: .readWriteLock
            case .semaphore: .semaphore
            }
        }

        /// The key prefix of lock `name` of this kind in `namespace`.
        ///
        /// - Throws: ``LockError`` `.invalidName`.
        public func prefix(_ name: String, namespace: String) throws -> EtcdKey {
            switch self {
            case .lock: try LockInspection.prefix(name, namespace: namespace)
            case .rwlock: try LockInspection.readWriteLockPrefix(name, namespace: namespace)
            case .semaphore: try LockInspection.semaphorePrefix(name, namespace: namespace)
            }
        }
    }

    /// One key of the queue.
    public struct Entry: Sendable {
        /// The key as read; its create revision is the entry's fencing token.
        public var keyValue: KeyValue
        /// The hold it has or waits for.
        public var mode: LockMode
        /// Its session's owner (for a semaphore, without the recorded permit count).
        public var owner: String
        /// The permit count a semaphore entry was acquired with.
        public var permits: Int?
        /// Its lease's remaining TTL in seconds (`nil`: no lease; -1: the lease is gone).
        public var ttl: Int64?
        /// When it joined the queue, by its writer's clock (`nil` for a key that does not say).
        public var queuedAt: Date?
        /// When it was admitted, when its key records it (see ``QueueEntryRecord``).
        public var admittedAt: Date?
    }

    /// The kind of lock.
    public let kind: Kind
    /// Who holds it now: one entry, or every reader admitted together, or up to N permit holders.
    public let holders: [Entry]
    /// Everyone else, in queue order.
    public let waiters: [Entry]
    /// A semaphore's permit count, as its oldest entry recorded it.
    public let permits: Int?

    /// Whether nobody holds it or waits for it.
    public var isFree: Bool { holders.isEmpty && waiters.isEmpty }

    /// The queue of `kind` under `prefix`, from its keys in create-revision order; `ttls` gives
    /// each lease's remaining TTL.
    public init(kind: Kind, prefix: EtcdKey, keys: [KeyValue], ttls: [LeaseID: Int64]) {
        self.kind = kind
        let writers = prefix.appending("write/").description
        let entries = keys.map { keyValue in
            let ttl = keyValue.lease.flatMap { ttls[$0] }
            let record = QueueEntryRecord(keyValue.value)
            let mode: LockMode =
                switch kind {
                case .lock: .exclusive
                case .rwlock: keyValue.key.description.hasPrefix(writers) ? .write : .read
                case .semaphore: .permit
                }
            return Entry(
                keyValue: keyValue, mode: mode, owner: record.owner, permits: kind == .semaphore ? record.permits : nil, ttl: ttl,
                queuedAt: record.queuedAt, admittedAt: record.admittedAt)
        }
        let holding: Int
        switch kind {
        case .lock:
            holding = min(entries.count, 1)
            permits = nil
        case .rwlock:
            // The head if it is a writer, otherwise every reader before the first writer.
            let firstWriter = entries.firstIndex { $0.mode == .write } ?? entries.count
            holding = firstWriter == 0 ? min(entries.count, 1) : firstWriter
            permits = nil
        case .semaphore:
            permits = entries.first?.permits
            holding = min(entries.count, max(permits ?? 1, 1))
        }
        holders = Array(entries.prefix(holding))
        waiters = Array(entries.dropFirst(holding))
    }
}
