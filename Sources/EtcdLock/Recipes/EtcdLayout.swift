import Etcd

/// Compatibility with etcd's own lock and election recipes (Go's `concurrency.Mutex` and
/// `concurrency.Election`, `etcdctl lock` and `etcdctl elect`).
///
/// Those keep their queue under a raw key prefix `P`: each session's key is `P/<lease id in
/// lowercase hex>`, and the key with the lowest create revision holds. A mutex or an election
/// made with `etcdPrefix:` uses exactly that layout, so a Swift holder and a Go holder of one
/// prefix exclude each other and their fencing tokens (create revisions) compare.
///
/// What the compatibility mode gives up: namespaces and name escaping (the prefix is used as
/// given, so it must not overlap another queue's keys), and lock-delay (Go's recipes neither write
/// nor honour its markers). Coalescing of enqueues and releases, and the fast path of an empty
/// queue (one put), still apply: they change how our requests travel, not what lands in etcd.
enum EtcdLayout {
    /// The queue prefix of etcd's recipes for `prefix`: `prefix` followed by `/`.
    ///
    /// - Throws: ``LockError`` `.invalidName` for an empty prefix, one over 512 bytes, or one with
    ///   control characters.
    static func queuePrefix(_ prefix: String) throws -> EtcdKey {
        try LockName.validate(prefix, kind: "etcd prefix")
        return EtcdKey(prefix + "/")
    }
}

extension EtcdMutex {
    /// A mutex on etcd's own key layout under `etcdPrefix`, interoperating with Go's
    /// `concurrency.NewMutex(session, etcdPrefix)` and `etcdctl lock etcdPrefix` (see ``EtcdLayout``).
    ///
    /// - Throws: ``LockError`` `.invalidName` for an empty prefix, one over 512 bytes, or one with
    ///   control characters.
    public init(etcdPrefix: String, session: EtcdSession) throws {
        self.init(
            name: etcdPrefix, session: session,
            queue: LockQueue(session: session, prefix: try EtcdLayout.queuePrefix(etcdPrefix), kind: .mutex, name: etcdPrefix, etcdLayout: true))
    }
}

extension EtcdElection {
    /// An election on etcd's own key layout under `etcdPrefix`, interoperating with Go's
    /// `concurrency.NewElection(session, etcdPrefix)` and `etcdctl elect etcdPrefix` (see ``EtcdLayout``).
    ///
    /// - Throws: ``LockError`` `.invalidName` for an empty prefix, one over 512 bytes, or one with
    ///   control characters.
    public init(etcdPrefix: String, session: EtcdSession) throws {
        self.init(
            name: etcdPrefix, session: session,
            queue: LockQueue(session: session, prefix: try EtcdLayout.queuePrefix(etcdPrefix), kind: .election, name: etcdPrefix, etcdLayout: true))
    }
}
