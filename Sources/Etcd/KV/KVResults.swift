/// The answer to a read.
public struct RangeResult: Sendable, Hashable {
    /// The cluster's state when it answered (its revision is the read's revision).
    public var header: ResponseHeader
    /// The keys found, in the requested order (empty with `countOnly`).
    public var keyValues: [KeyValue]
    /// Whether more keys matched than `limit` allowed.
    public var hasMore: Bool
    /// How many keys matched in total.
    public var count: Int64

    init(wire: WireRangeResponse) {
        header = wire.header.model
        keyValues = (wire.kvs ?? []).map(\.model)
        hasMore = wire.more ?? false
        count = wire.count.orZero
    }
}

/// The answer to a put.
public struct PutResult: Sendable, Hashable {
    /// The cluster's state after the write; its revision is the write's revision.
    public var header: ResponseHeader
    /// The key-value before the write, when requested and the key existed.
    public var previous: KeyValue?

    init(wire: WirePutResponse) {
        header = wire.header.model
        previous = wire.prev_kv?.model
    }
}

/// The answer to a delete.
public struct DeleteResult: Sendable, Hashable {
    /// The cluster's state after the delete.
    public var header: ResponseHeader
    /// How many keys were deleted.
    public var deletedCount: Int64
    /// The deleted key-values, when requested.
    public var previous: [KeyValue]

    init(wire: WireDeleteRangeResponse) {
        header = wire.header.model
        deletedCount = wire.deleted.orZero
        previous = (wire.prev_kvs ?? []).map(\.model)
    }
}
