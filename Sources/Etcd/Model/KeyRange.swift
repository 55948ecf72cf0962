/// A key, or a half-open range of keys `[key, end)`, that an operation applies to.
public struct KeyRange: Sendable, Hashable, CustomStringConvertible {
    /// The first key of the range, or the only key.
    public var key: EtcdKey
    /// The end of the range (exclusive); `nil` means just `key`.
    public var end: EtcdKey?

    /// Every key from `key` up to `end` (exclusive), or only `key` when `end` is `nil`.
    public init(key: EtcdKey, end: EtcdKey?) {
        self.key = key
        self.end = end
    }

    /// Exactly one key.
    public static func key(_ key: EtcdKey) -> KeyRange { KeyRange(key: key, end: nil) }

    /// Every key that starts with `prefix`.
    ///
    /// End lock prefixes with `/` so that `lock1/` does not also match `lock10/`.
    public static func prefix(_ prefix: EtcdKey) -> KeyRange {
        // etcd reads a range end of "\0" as "to the end of the key space".
        KeyRange(key: prefix, end: prefix.prefixEnd ?? EtcdKey(bytes: [0]))
    }

    /// Every key greater than or equal to `key`.
    public static func from(_ key: EtcdKey) -> KeyRange { KeyRange(key: key, end: EtcdKey(bytes: [0])) }

    /// Whether `candidate` is in the range.
    func contains(_ candidate: EtcdKey) -> Bool {
        guard let end else { return candidate == key }
        if candidate < key { return false }
        // An end of "\0" means "to the end of the key space".
        return end.bytes == [0] || candidate < end
    }

    public var description: String {
        guard let end else { return key.description }
        return "[\(key), \(end))"
    }
}
