import Etcd
import Foundation

/// Operations on mutexes for operators and tools, without a session: list a namespace's locks,
/// inspect one, force-release a holder. `etcdlock list`, `etcdlock release --force` and the lock
/// service call these.
///
/// They read and write etcd directly and keep nothing in the process. Ages (how long a waiter has
/// waited, a holder held) come from the times each key's value records (``QueueEntryRecord``):
/// etcd itself records none.
public enum LockAdmin {
    /// One key of a lock's queue: the holder or a waiter.
    public struct Entry: Sendable, Hashable {
        /// The entry's key.
        public var key: EtcdKey
        /// Its fencing token (the key's create revision): its place in line.
        public var token: FencingToken
        /// Who queued it (its session's owner, from the key's value).
        public var owner: String
        /// When it joined the queue, by its writer's clock (`nil` for a key that does not say).
        public var queuedAt: Date?
        /// When it was admitted, when its key records it (see ``QueueEntryRecord``).
        public var admittedAt: Date?
        /// The lease the key lives on.
        public var lease: LeaseID?
        /// What the lease has left, when it was asked (``inspect(_:namespace:client:)`` asks);
        /// negative when the lease is already gone.
        public var leaseTTL: Duration?
        /// The hold it has or waits for: `.exclusive` for a mutex's entries.
        public var mode: LockMode = .exclusive
        /// The permit count a semaphore entry was acquired with.
        public var permits: Int?

        /// The entry a queue read by its kind's rule stands for.
        init(_ entry: LockQueueState.Entry) {
            self.init(entry.keyValue)
            mode = entry.mode
            permits = entry.permits
        }

        init(_ keyValue: KeyValue, leaseTTL: Duration? = nil) {
            key = keyValue.key
            token = FencingToken(keyValue.createRevision)
            let record = QueueEntryRecord(keyValue.value)
            owner = record.owner
            queuedAt = record.queuedAt
            admittedAt = record.admittedAt
            lease = keyValue.lease
            self.leaseTTL = leaseTTL
        }
    }

    /// A lock's holder and waiters, as of one revision.
    public struct LockState: Sendable, Hashable {
        /// The lock's name.
        public var name: String
        /// Who holds it, or `nil` when it is free.
        public var holder: Entry?
        /// Who waits, in queue order.
        public var waiters: [Entry]
        /// The revision the picture was read at.
        public var revision: Revision
    }

    /// One lock of a namespace, as ``list(namespace:namePrefix:kind:client:)`` reports it.
    public struct LockSummary: Sendable, Hashable {
        /// The lock's name.
        public var name: String
        /// Who holds it (every lock listed has keys, so at least one holder): a mutex's or a
        /// writer's one, every reader admitted together, a semaphore's permit holders.
        public var holders: [Entry]
        /// How many wait behind the holders.
        public var waiting: Int
        /// The first holder.
        public var holder: Entry { holders[0] }
    }

    /// The holder and waiters of the mutex `name` in `namespace`, with each lease's remaining TTL.
    ///
    /// - Throws: ``LockError`` `.invalidName`; ``EtcdError`` when etcd cannot be reached.
    public static func inspect(_ name: String, namespace: String = "default", client: EtcdClient) async throws -> LockState {
        let prefix = try LockName.prefix(namespace: namespace, kind: RecipeKind.mutex.rawValue, name: name)
        let range = try await client.range(RangeRequest(.prefix(prefix), sort: .init(.createRevision, .ascending)))
        let ttls = try await leaseTTLs(of: range.keyValues, client: client)
        let entries = range.keyValues.map { Entry($0, leaseTTL: $0.lease.flatMap { ttls[$0] }.map { .seconds($0) }) }
        return LockState(name: name, holder: entries.first, waiters: Array(entries.dropFirst()), revision: range.header.revision)
    }

    /// The queue of lock `name` of `kind` in `namespace` — holders and waiters by the recipe's
    /// admission rule, each lease's remaining TTL — as of `revision` (`nil`: now), and the
    /// revision read, so that several kinds can be read as one consistent picture.
    ///
    /// - Throws: ``LockError`` `.invalidName`; ``EtcdError`` when etcd cannot be reached (or the
    ///   revision was compacted).
    public static func queue(
        _ name: String, namespace: String = "default", kind: LockQueueState.Kind, revision: Revision? = nil, client: EtcdClient
    ) async throws -> (LockQueueState, Revision) {
        let prefix = try kind.prefix(name, namespace: namespace)
        let range = try await client.range(RangeRequest(.prefix(prefix), revision: revision, sort: .init(.createRevision, .ascending)))
        let ttls = try await leaseTTLs(of: range.keyValues, client: client)
        return (LockQueueState(kind: kind, prefix: prefix, keys: range.keyValues, ttls: ttls), revision ?? range.header.revision)
    }

    /// The remaining TTL in seconds of each lease `keys` live on, asked a few at a time (a queue
    /// of hundreds of waiters is read in a fraction of the time one request after another takes).
    static func leaseTTLs(of keys: [KeyValue], client: EtcdClient) async throws -> [LeaseID: Int64] {
        let leases = Array(Set(keys.compactMap(\.lease)))
        return try await withThrowingTaskGroup(of: (LeaseID, Int64).self) { group in
            var ttls: [LeaseID: Int64] = [:]
            var next = 0
            while next < leases.count || !group.isEmpty {
                while next < leases.count, next - ttls.count < 16 {
                    let lease = leases[next]
                    group.addTask { (lease, try await client.timeToLive(lease).ttlSeconds) }
                    next += 1
                }
                if let (lease, ttl) = try await group.next() { ttls[lease] = ttl }
            }
            return ttls
        }
    }

    /// The locks of `kind` (the mutexes by default) in `namespace` that have a holder, by name,
    /// whose name starts with `namePrefix` (every one when it is empty): each with its holders and
    /// the length of its queue, by the kind's admission rule.
    ///
    /// One range read of the namespace (the part under the prefix): meant for operators, not for a
    /// hot path.
    ///
    /// - Throws: ``LockError`` `.invalidName` (an invalid namespace); ``EtcdError`` when etcd
    ///   cannot be reached.
    public static func list(
        namespace: String = "default", namePrefix: String = "", kind: LockQueueState.Kind = .lock, client: EtcdClient
    ) async throws -> [LockSummary] {
        let root = try LockName.kindPrefix(namespace: namespace, kind: kind.recipe.rawValue)
        // Escaping maps each byte to a fixed, prefix-free code, so a name starts with `namePrefix`
        // exactly when its segment starts with the prefix's segment.
        let scanned = namePrefix.isEmpty ? root : root.appending(try LockName.segment(namePrefix, kind: "lock name prefix"))
        let range = try await client.range(RangeRequest(.prefix(scanned), sort: .init(.createRevision, .ascending)))
        let rootLength = root.description.utf8.count
        // By segment, not by name: two names that Unicode deems equal (a Kelvin sign and a K)
        // are different bytes, so different locks.
        var keys: [String: (name: String, keys: [KeyValue])] = [:]
        for keyValue in range.keyValues {
            let rest = keyValue.key.description.utf8.dropFirst(rootLength)
            // Only keys under a name's own segment, as the recipes write it: a key put there by
            // other means (another spelling of a name, bytes no name escapes to) is not a lock's.
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")) else { continue }
            let segment = Substring(rest[..<slash])
            guard let name = LockName.name(ofSegment: segment), (try? LockName.segment(name, kind: "lock name")) == String(segment)
            else { continue }
            keys[String(segment), default: (name, [])].keys.append(keyValue)
        }
        return keys.sorted { ($0.value.name, $0.key) < ($1.value.name, $1.key) }.compactMap { segment, lock in
            let prefix = root.appending(segment + "/")
            let queue = LockQueueState(kind: kind, prefix: prefix, keys: lock.keys, ttls: [:])
            guard !queue.holders.isEmpty else { return nil }
            return LockSummary(name: lock.name, holders: queue.holders.map(Entry.init), waiting: queue.waiters.count)
        }
    }

    /// The outcome of ``forceRelease(_:namespace:kind:token:client:)``.
    public enum ForceRelease: Sendable, Hashable {
        /// The holder's key was deleted at `revision`; the next waiter, if any, now holds the lock.
        /// The holder's lease is left alone (it may carry the holder's other locks): a process
        /// holding through it learns of the loss from its key's deletion.
        case released(Entry, revision: Revision)
        /// The lock is not held under the token given (`current` holds it); nothing was deleted.
        case notHolder(current: Entry)
        /// Several hold it together (readers, permit holders) and no token said which to remove;
        /// nothing was deleted.
        case severalHolders([Entry])
        /// Nobody holds the lock; nothing was deleted.
        case free
    }

    /// Deletes the key of a holder of lock `name` of `kind` (the mutex by default) in `namespace`
    /// — only if it is still a holder with `token`, when a token is given — so the next in line
    /// is admitted. A read/write lock's readers and a semaphore's permit holders hold together:
    /// without a token, only a lone holder is removed.
    ///
    /// The deletion is guarded by the holder's create revision, so a holder that changed between
    /// the read and the deletion is never removed by mistake (the call then reads again, at most
    /// a few times).
    ///
    /// - Throws: ``LockError`` `.invalidName`; ``EtcdError`` when etcd cannot be reached.
    public static func forceRelease(
        _ name: String, namespace: String = "default", kind: LockQueueState.Kind = .lock, token: FencingToken? = nil,
        client: EtcdClient
    ) async throws -> ForceRelease {
        let prefix = try kind.prefix(name, namespace: namespace)
        // A mutex's holder is its oldest key; the other kinds' holders take a look at the queue.
        let read = RangeRequest(.prefix(prefix), limit: kind == .lock ? 1 : 0, sort: .init(.createRevision, .ascending))
        for _ in 0..<5 {
            let queue = LockQueueState(kind: kind, prefix: prefix, keys: try await client.range(read).keyValues, ttls: [:])
            guard let first = queue.holders.first else { return .free }
            let target: LockQueueState.Entry
            if let token {
                guard let holder = queue.holders.first(where: { $0.keyValue.createRevision == token.revision }) else {
                    return .notHolder(current: Entry(first))
                }
                target = holder
            } else {
                guard queue.holders.count == 1 else { return .severalHolders(queue.holders.map(Entry.init)) }
                target = first
            }
            let key = target.keyValue.key
            let deletion = Txn(
                if: [.createRevision(of: key, .equal, target.keyValue.createRevision)], then: [.delete(.key(key))])
            let result: TxnResult
            do {
                // Not resent blindly: a resent deletion that had landed would fail its compare, and
                // the loop below would then remove the next holder too.
                result = try await client.txn(deletion, retry: .onlyIfNotSent)
            } catch let error as EtcdError where error.mayHaveBeenApplied {
                // Whether it landed is read back: the key gone is that holder released (by us, or
                // by its own release in between — removed either way).
                let current = try await client.range(RangeRequest(.key(key)))
                guard current.keyValues.first?.createRevision == target.keyValue.createRevision else {
                    return .released(Entry(target), revision: current.header.revision)
                }
                continue
            }
            if result.succeeded { return .released(Entry(target), revision: result.header.revision) }
            // That holder left meanwhile: with a token, it is gone for good; without, look again.
            if token != nil {
                let next = LockQueueState(kind: kind, prefix: prefix, keys: try await client.range(read).keyValues, ttls: [:])
                return next.holders.first.map { .notHolder(current: Entry($0)) } ?? .free
            }
        }
        throw EtcdError(code: .timeout, message: "the holder of \(name) kept changing; nothing was force-released")
    }
}
