/// A write of one key, as sent by ``EtcdClient/put(_:value:lease:returnPrevious:timeout:)`` or
/// inside a ``Txn``.
public struct PutRequest: Sendable, Hashable {
    /// The key to write.
    public var key: EtcdKey
    /// The new value.
    public var value: [UInt8]
    /// Attach the key to this lease (it is deleted when the lease ends); `nil` detaches it.
    public var lease: LeaseID?
    /// Return the previous key-value in the result.
    public var returnPrevious: Bool
    /// Keep the current value (only the lease changes).
    public var ignoreValue: Bool
    /// Keep the current lease (only the value changes).
    public var ignoreLease: Bool

    /// A write of `value` to `key`.
    public init(
        _ key: EtcdKey, value: some Sequence<UInt8>, lease: LeaseID? = nil, returnPrevious: Bool = false,
        ignoreValue: Bool = false, ignoreLease: Bool = false
    ) {
        self.key = key
        self.value = Array(value)
        self.lease = lease
        self.returnPrevious = returnPrevious
        self.ignoreValue = ignoreValue
        self.ignoreLease = ignoreLease
    }

    func validate() throws {
        try KeyRange.key(key).validate()
    }

    var wire: WirePutRequest {
        WirePutRequest(
            key: WireBytes(key.bytes), value: value.isEmpty ? nil : WireBytes(value),
            lease: lease.map { WireInt64($0.rawValue) }, prev_kv: returnPrevious ? true : nil,
            ignore_value: ignoreValue ? true : nil, ignore_lease: ignoreLease ? true : nil)
    }
}

/// A delete of a key or range.
public struct DeleteRequest: Sendable, Hashable {
    /// The key or range to delete.
    public var keys: KeyRange
    /// Return the deleted key-values in the result.
    public var returnPrevious: Bool

    /// A delete of `keys`.
    public init(_ keys: KeyRange, returnPrevious: Bool = false) {
        self.keys = keys
        self.returnPrevious = returnPrevious
    }

    var wire: WireDeleteRangeRequest {
        WireDeleteRangeRequest(
            key: WireBytes(keys.key.bytes), range_end: keys.end.map { WireBytes($0.bytes) },
            prev_kv: returnPrevious ? true : nil)
    }
}
