import Etcd

/// Operations on mutexes for operators and tools, without a session: list a namespace's locks,
/// inspect one, force-release a holder. `etcdlock list`, `etcdlock release --force` and the lock
/// service call these.
///
/// They read and write etcd directly and keep nothing in the process. Ages (how long a holder has
/// held, a waiter waited) are not reported: etcd records no times, only revisions and lease TTLs.
public enum LockAdmin {
    /// One key of a lock's queue: the holder or a waiter.
    public struct Entry: Sendable, Hashable {
        /// The entry's key.
        public var key: EtcdKey
        /// Its fencing token (the key's create revision): its place in line.
        public var token: FencingToken
        /// Who queued it (the key's value).
        public var owner: String
        /// The lease the key lives on.
        public var lease: LeaseID?
        /// What the lease has left, when it was asked (``inspect(_:namespace:client:)`` asks);
        /// negative when the lease is already gone.
        public var leaseTTL: Duration?

        init(_ keyValue: KeyValue, leaseTTL: Duration? = nil) {
            key = keyValue.key
            token = FencingToken(keyValue.createRevision)
            owner = keyValue.valueString
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

    /// One lock of a namespace, as ``list(namespace:namePrefix:client:)`` reports it.
    public struct LockSummary: Sendable, Hashable {
        /// The lock's name.
        public var name: String
        /// Who holds it (every lock listed has keys, so a holder).
        public var holder: Entry
        /// How many wait behind the holder.
        public var waiting: Int
    }

    /// The holder and waiters of the mutex `name` in `namespace`, with each lease's remaining TTL.
    ///
    /// - Throws: ``LockError`` `.invalidName`; ``EtcdError`` when etcd cannot be reached.
    public static func inspect(_ name: String, namespace: String = "default", client: EtcdClient) async throws -> LockState {
        let prefix = try LockName.prefix(namespace: namespace, kind: RecipeKind.mutex.rawValue, name: name)
        let range = try await client.range(RangeRequest(.prefix(prefix), sort: .init(.createRevision, .ascending)))
        var ttls: [LeaseID: Duration] = [:]
        for lease in range.keyValues.compactMap(\.lease) where ttls[lease] == nil {
            ttls[lease] = .seconds(try await client.timeToLive(lease).ttlSeconds)
        }
        let entries = range.keyValues.map { Entry($0, leaseTTL: $0.lease.flatMap { ttls[$0] }) }
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
        var ttls: [LeaseID: Int64] = [:]
        for lease in range.keyValues.compactMap(\.lease) where ttls[lease] == nil {
            ttls[lease] = try await client.timeToLive(lease).ttlSeconds
        }
        return (LockQueueState(kind: kind, prefix: prefix, keys: range.keyValues, ttls: ttls), revision ?? range.header.revision)
    }

    /// The mutexes of `namespace` that have a holder, by name, whose name starts with `namePrefix`
    /// (every one when it is empty): each with its holder and the length of its queue.
    ///
    /// One range read of the namespace (the part under the prefix): meant for operators, not for a
    /// hot path.
    ///
    /// - Throws: ``LockError`` `.invalidName` (an invalid namespace); ``EtcdError`` when etcd
    ///   cannot be reached.
    public static func list(namespace: String = "default", namePrefix: String = "", client: EtcdClient) async throws -> [LockSummary] {
        let root = try LockName.kindPrefix(namespace: namespace, kind: RecipeKind.mutex.rawValue)
        // Escaping maps each byte to a fixed, prefix-free code, so a name starts with `namePrefix`
        // exactly when its segment starts with the prefix's segment.
        let scanned = namePrefix.isEmpty ? root : root.appending(try LockName.segment(namePrefix, kind: "lock name prefix"))
        let range = try await client.range(RangeRequest(.prefix(scanned), sort: .init(.createRevision, .ascending)))
        let rootLength = root.description.utf8.count
        var order: [String] = []
        var queues: [String: (holder: Entry, waiting: Int)] = [:]
        for keyValue in range.keyValues {
            let rest = keyValue.key.description.utf8.dropFirst(rootLength)
            guard let slash = rest.firstIndex(of: UInt8(ascii: "/")),
                let name = LockName.name(ofSegment: Substring(rest[..<slash]))
            else { continue }
            if queues[name] == nil {
                order.append(name)
                queues[name] = (Entry(keyValue), 0)
            } else {
                queues[name]?.waiting += 1
            }
        }
        return order.sorted().compactMap { name in
            queues[name].map { LockSummary(name: name, holder: $0.holder, waiting: $0.waiting) }
        }
    }

    /// The outcome of ``forceRelease(_:namespace:token:client:)``.
    public enum ForceRelease: Sendable, Hashable {
        /// The holder's key was deleted at `revision`; the next waiter, if any, now holds the lock.
        /// The holder's lease is left alone (it may carry the holder's other locks): a process
        /// holding through it learns of the loss from its key's deletion.
        case released(Entry, revision: Revision)
        /// The lock is held under another token than the one given; nothing was deleted.
        case notHolder(current: Entry)
        /// Nobody holds the lock; nothing was deleted.
        case free
    }

    /// Deletes the holder's key of the mutex `name` in `namespace` — only if it is still the
    /// holder with `token`, when a token is given — so the next waiter gets the lock.
    ///
    /// The deletion is guarded by the holder's create revision, so a holder that changed between
    /// the read and the deletion is never removed by mistake (the call then reads again, at most
    /// a few times).
    ///
    /// - Throws: ``LockError`` `.invalidName`; ``EtcdError`` when etcd cannot be reached.
    public static func forceRelease(
        _ name: String, namespace: String = "default", token: FencingToken? = nil, client: EtcdClient
    ) async throws -> ForceRelease {
        let prefix = try LockName.prefix(namespace: namespace, kind: RecipeKind.mutex.rawValue, name: name)
        let headRange = RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .ascending))
        for _ in 0..<5 {
            let head = try await client.range(headRange)
            guard let current = head.keyValues.first else { return .free }
            let holder = Entry(current)
            if let token, holder.token != token { return .notHolder(current: holder) }
            let deletion = Txn(if: [.createRevision(of: current.key, .equal, current.createRevision)], then: [.delete(.key(current.key))])
            let result = try await client.txn(deletion, retry: .idempotent)
            if result.succeeded { return .released(holder, revision: result.header.revision) }
            // The holder left meanwhile: with a token, that holder is gone; without, look again.
            if token != nil {
                let next = try await client.range(headRange)
                return next.keyValues.first.map { .notHolder(current: Entry($0)) } ?? .free
            }
        }
        throw EtcdError(code: .timeout, message: "the holder of \(name) kept changing; nothing was force-released")
    }
}
