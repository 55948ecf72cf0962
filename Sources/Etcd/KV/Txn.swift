/// An atomic etcd transaction: if every compare holds, run `success`, otherwise `failure`.
///
/// ```swift
/// let txn = Txn(
///     if: [.createRevision(of: key, .equal, .zero)],
///     then: [.put(key, value: owner.utf8, lease: lease)],
///     else: [.range(RangeRequest(.key(key)))])
/// let result = try await client.txn(txn)
/// ```
/// etcd allows 128 operations per transaction by default, and each key may be written once.
public struct Txn: Sendable, Hashable {
    /// The conditions, all of which must hold.
    public var compares: [Compare]
    /// What runs when every compare holds.
    public var success: [Operation]
    /// What runs otherwise.
    public var failure: [Operation]

    /// A transaction: `if` every compare holds, `then` run these, `else` those.
    public init(if compares: [Compare] = [], then success: [Operation] = [], else failure: [Operation] = []) {
        self.compares = compares
        self.success = success
        self.failure = failure
    }

    /// One condition of a transaction: a key's field compared with a value.
    public struct Compare: Sendable, Hashable {
        /// How the key's field must relate to the given value.
        public enum Relation: String, Sendable, Hashable {
            /// Equal.
            case equal = "EQUAL"
            /// Not equal.
            case notEqual = "NOT_EQUAL"
            /// The key's field is less than the value.
            case less = "LESS"
            /// The key's field is greater than the value.
            case greater = "GREATER"
        }

        /// The field compared, with the value it is compared against.
        public enum Target: Sendable, Hashable {
            /// The key's version (0 when it does not exist).
            case version(Int64)
            /// The key's create revision (0 when it does not exist).
            case createRevision(Revision)
            /// The key's last modification revision.
            case modRevision(Revision)
            /// The key's value.
            case value([UInt8])
            /// The key's lease (`nil` for none).
            case lease(LeaseID?)
        }

        /// The key (or range: every key in it must satisfy the compare).
        public var keys: KeyRange
        /// The field and the value it is compared against.
        public var target: Target
        /// The relation that must hold.
        public var relation: Relation

        /// `keys`' field `target` must stand in `relation` to the target's value.
        public init(_ keys: KeyRange, _ target: Target, _ relation: Relation) {
            self.keys = keys
            self.target = target
            self.relation = relation
        }

        /// The key's create revision compared with `revision` (0: the key does not exist).
        public static func createRevision(of key: EtcdKey, _ relation: Relation, _ revision: Revision) -> Compare {
            Compare(.key(key), .createRevision(revision), relation)
        }

        /// The key's last modification revision compared with `revision`.
        public static func modRevision(of key: EtcdKey, _ relation: Relation, _ revision: Revision) -> Compare {
            Compare(.key(key), .modRevision(revision), relation)
        }

        /// The key's version compared with `version`.
        public static func version(of key: EtcdKey, _ relation: Relation, _ version: Int64) -> Compare {
            Compare(.key(key), .version(version), relation)
        }

        /// The key's value compared with `value`.
        public static func value(of key: EtcdKey, _ relation: Relation, _ value: some Sequence<UInt8>) -> Compare {
            Compare(.key(key), .value(Array(value)), relation)
        }

        /// The key's lease compared with `lease`.
        public static func lease(of key: EtcdKey, _ relation: Relation, _ lease: LeaseID?) -> Compare {
            Compare(.key(key), .lease(lease), relation)
        }

        var wire: WireCompare {
            var compare = WireCompare(
                result: relation.rawValue, target: "", key: WireBytes(keys.key.bytes),
                range_end: keys.end.map { WireBytes($0.bytes) })
            switch target {
            case .version(let version):
                compare.target = "VERSION"
                compare.version = WireInt64(version)
            case .createRevision(let revision):
                compare.target = "CREATE"
                compare.create_revision = WireInt64(revision.rawValue)
            case .modRevision(let revision):
                compare.target = "MOD"
                compare.mod_revision = WireInt64(revision.rawValue)
            case .value(let value):
                compare.target = "VALUE"
                compare.value = WireBytes(value)
            case .lease(let lease):
                compare.target = "LEASE"
                compare.lease = WireInt64(lease?.rawValue ?? 0)
            }
            return compare
        }
    }

    /// One operation of a transaction.
    public indirect enum Operation: Sendable, Hashable {
        /// A read.
        case range(RangeRequest)
        /// A write of one key.
        case put(PutRequest)
        /// A delete.
        case delete(DeleteRequest)
        /// A nested transaction.
        case txn(Txn)

        /// A write of `value` to `key`.
        public static func put(
            _ key: EtcdKey, value: some Sequence<UInt8>, lease: LeaseID? = nil, returnPrevious: Bool = false
        ) -> Operation {
            .put(PutRequest(key, value: value, lease: lease, returnPrevious: returnPrevious))
        }

        /// A delete of `keys`.
        public static func delete(_ keys: KeyRange, returnPrevious: Bool = false) -> Operation {
            .delete(DeleteRequest(keys, returnPrevious: returnPrevious))
        }

        func validate() throws {
            switch self {
            case .range(let request): _ = try request.validated()
            case .put(let request): try request.validate()
            case .delete(let request): try request.keys.validate()
            case .txn(let txn): try txn.validate()
            }
        }

        var wire: WireRequestOp {
            switch self {
            case .range(let request): WireRequestOp(request_range: request.wire)
            case .put(let request): WireRequestOp(request_put: request.wire)
            case .delete(let request): WireRequestOp(request_delete_range: request.wire)
            case .txn(let txn): WireRequestOp(request_txn: txn.wire)
            }
        }
    }

    /// The result of one operation, in the order the operations were given.
    public indirect enum Response: Sendable, Hashable {
        /// A read's result.
        case range(RangeResult)
        /// A put's result.
        case put(PutResult)
        /// A delete's result.
        case delete(DeleteResult)
        /// A nested transaction's result.
        case txn(TxnResult)

        init(wire: WireResponseOp) throws {
            if let range = wire.response_range {
                self = .range(RangeResult(wire: range))
            } else if let put = wire.response_put {
                self = .put(PutResult(wire: put))
            } else if let delete = wire.response_delete_range {
                self = .delete(DeleteResult(wire: delete))
            } else if let txn = wire.response_txn {
                self = .txn(try TxnResult(wire: txn))
            } else {
                throw EtcdError(code: .invalidResponse, message: "a txn response operation has no known kind")
            }
        }
    }

    func validate() throws {
        for compare in compares { try compare.keys.validate() }
        for operation in success + failure { try operation.validate() }
    }

    var wire: WireTxnRequest {
        WireTxnRequest(compare: compares.map(\.wire), success: success.map(\.wire), failure: failure.map(\.wire))
    }
}

/// The answer to a transaction.
public struct TxnResult: Sendable, Hashable {
    /// The cluster's state after the transaction.
    public var header: ResponseHeader
    /// Whether every compare held (and `success` ran).
    public var succeeded: Bool
    /// The results of the operations that ran, in order.
    public var responses: [Txn.Response]

    init(header: ResponseHeader, succeeded: Bool, responses: [Txn.Response]) {
        self.header = header
        self.succeeded = succeeded
        self.responses = responses
    }

    init(wire: WireTxnResponse) throws {
        header = wire.header.model
        succeeded = wire.succeeded ?? false
        responses = try (wire.responses ?? []).map(Txn.Response.init(wire:))
    }
}
