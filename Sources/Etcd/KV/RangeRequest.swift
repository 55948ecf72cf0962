/// What to read: a key or range plus etcd's range options.
///
/// ```swift
/// var oldest = RangeRequest(.prefix("locks/orders/"), limit: 1, sort: .init(.createRevision, .ascending))
/// oldest.maxCreateRevision = myRevision
/// ```
public struct RangeRequest: Sendable, Hashable {
    /// How results are ordered.
    public struct Sort: Sendable, Hashable {
        /// The field results are sorted by.
        public enum Target: String, Sendable, Hashable {
            /// By key bytes.
            case key = "KEY"
            /// By version.
            case version = "VERSION"
            /// By create revision (lock queue order).
            case createRevision = "CREATE"
            /// By last modification revision.
            case modRevision = "MOD"
            /// By value bytes.
            case value = "VALUE"
        }

        /// The direction.
        public enum Order: String, Sendable, Hashable {
            /// Smallest first.
            case ascending = "ASCEND"
            /// Largest first.
            case descending = "DESCEND"
        }

        /// The field results are sorted by.
        public var target: Target
        /// The direction.
        public var order: Order

        /// Sorts by `target` in `order`.
        public init(_ target: Target, _ order: Order) {
            self.target = target
            self.order = order
        }
    }

    /// How fresh the answer must be.
    public enum Consistency: Sendable, Hashable {
        /// Goes through the leader: sees every write acknowledged before the call (default).
        case linearizable
        /// Answered by the member from its local state: faster, may be slightly stale.
        case serializable
    }

    /// The key or range to read.
    public var keys: KeyRange
    /// The most keys to return; 0 means no limit.
    public var limit: Int64
    /// Read the key space as of this revision; `nil` means the newest.
    public var revision: Revision?
    /// The order of results; `nil` leaves etcd's default (by key).
    public var sort: Sort?
    /// How fresh the answer must be.
    public var consistency: Consistency
    /// Return keys without values.
    public var keysOnly: Bool
    /// Return only the count.
    public var countOnly: Bool
    /// Only keys modified at or after this revision.
    public var minModRevision: Revision?
    /// Only keys modified at or before this revision.
    public var maxModRevision: Revision?
    /// Only keys created at or after this revision.
    public var minCreateRevision: Revision?
    /// Only keys created at or before this revision.
    public var maxCreateRevision: Revision?

    /// A read of `keys` with the given options.
    public init(
        _ keys: KeyRange, limit: Int64 = 0, revision: Revision? = nil, sort: Sort? = nil,
        consistency: Consistency = .linearizable, keysOnly: Bool = false, countOnly: Bool = false
    ) {
        self.keys = keys
        self.limit = limit
        self.revision = revision
        self.sort = sort
        self.consistency = consistency
        self.keysOnly = keysOnly
        self.countOnly = countOnly
    }

    func validated() throws -> RangeRequest {
        try keys.validate()
        guard limit >= 0 else { throw EtcdError(code: .invalidArgument, message: "limit must not be negative") }
        return self
    }

    var wire: WireRangeRequest {
        WireRangeRequest(
            key: WireBytes(keys.key.bytes), range_end: keys.end.map { WireBytes($0.bytes) },
            limit: limit == 0 ? nil : WireInt64(limit), revision: revision.map { WireInt64($0.rawValue) },
            sort_order: sort?.order.rawValue, sort_target: sort?.target.rawValue,
            serializable: consistency == .serializable ? true : nil, keys_only: keysOnly ? true : nil,
            count_only: countOnly ? true : nil, min_mod_revision: minModRevision.map { WireInt64($0.rawValue) },
            max_mod_revision: maxModRevision.map { WireInt64($0.rawValue) },
            min_create_revision: minCreateRevision.map { WireInt64($0.rawValue) },
            max_create_revision: maxCreateRevision.map { WireInt64($0.rawValue) })
    }
}

extension KeyRange {
    /// Rejects what etcd would reject, before sending: an empty key.
    func validate() throws {
        if key.isEmpty {
            throw EtcdError(code: .invalidArgument, message: "the key is empty (etcd requires a non-empty key)")
        }
    }
}
