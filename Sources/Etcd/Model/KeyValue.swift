/// One key and its value, with the revisions that say when it was created and last changed.
public struct KeyValue: Sendable, Hashable {
    /// The key.
    public var key: EtcdKey
    /// The value's bytes (empty for a deleted key in a watch event, or with `keysOnly`).
    public var value: [UInt8]
    /// The revision of the transaction that created the key (0 after it was deleted).
    public var createRevision: Revision
    /// The revision of the transaction that last changed the key.
    public var modRevision: Revision
    /// How many times the key was written since it was created (1 after creation).
    public var version: Int64
    /// The lease the key is attached to, if any.
    public var lease: LeaseID?

    /// Creates a key-value; responses build it for you.
    public init(
        key: EtcdKey, value: [UInt8], createRevision: Revision, modRevision: Revision, version: Int64,
        lease: LeaseID?
    ) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }

    /// The value as UTF-8 text (invalid bytes repaired with U+FFFD).
    public var valueString: String { String(decoding: value, as: UTF8.self) }
}
