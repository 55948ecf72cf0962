extension QueueKey {
    /// The queue entry stored at `key` under the queue's `prefix` (ending with `/`).
    ///
    /// The layouts: `<prefix><lease-hex>` (mutex, election), `<prefix><lease-hex>-<n>`
    /// (semaphore), `<prefix>read/<lease-hex>-<n>` and `<prefix>write/<lease-hex>-<n>` (read/write
    /// lock). The owner is the lease etcd says the key is attached to; for a key attached to none
    /// (which no client writes), the lease its name gives, so a report can still name its owner.
    public init(key: String, prefix: String, attachedLease: Int64?, createRevision: Int64, owner: String? = nil) {
        let path = key.hasPrefix(prefix) ? key.dropFirst(prefix.count) : Substring(key)
        var role = Role.entry
        var leaf = path
        if path.hasPrefix("read/") {
            role = .reader
            leaf = path.dropFirst("read/".count)
        } else if path.hasPrefix("write/") {
            role = .writer
            leaf = path.dropFirst("write/".count)
        }
        let lease = attachedLease.flatMap { $0 == 0 ? nil : $0 } ?? Self.namedLease(leaf) ?? 0
        self.init(lease: lease, createRevision: createRevision, role: role, owner: owner)
    }

    /// The lease a key's last segment names: the hex before `-` (or the whole segment).
    static func namedLease(_ leaf: Substring) -> Int64? {
        let hex = leaf.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false).first ?? leaf
        return Int64(hex, radix: 16)
    }
}
