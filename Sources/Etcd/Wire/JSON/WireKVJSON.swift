// Hand-written JSON for the hot wire types: what a lock acquire, a release, a read and a
// keepalive send and receive. Field names are the gateway's, as in the Codable types.

extension WireCompare: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("result", result)
            writer.field("target", target)
            writer.field("key", key)
            writer.field("range_end", range_end)
            writer.field("version", version)
            writer.field("create_revision", create_revision)
            writer.field("mod_revision", mod_revision)
            writer.field("value", value)
            writer.field("lease", lease)
        }
    }
}

extension WireRangeRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("key", key)
            writer.field("range_end", range_end)
            writer.field("limit", limit)
            writer.field("revision", revision)
            writer.field("sort_order", sort_order)
            writer.field("sort_target", sort_target)
            writer.field("serializable", serializable)
            writer.field("keys_only", keys_only)
            writer.field("count_only", count_only)
            writer.field("min_mod_revision", min_mod_revision)
            writer.field("max_mod_revision", max_mod_revision)
            writer.field("min_create_revision", min_create_revision)
            writer.field("max_create_revision", max_create_revision)
        }
    }
}

extension WirePutRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("key", key)
            writer.field("value", value)
            writer.field("lease", lease)
            writer.field("prev_kv", prev_kv)
            writer.field("ignore_value", ignore_value)
            writer.field("ignore_lease", ignore_lease)
        }
    }
}

extension WireDeleteRangeRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("key", key)
            writer.field("range_end", range_end)
            writer.field("prev_kv", prev_kv)
        }
    }
}

extension WireRequestOp: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            if let request_range {
                writer.key("request_range")
                request_range.write(to: &writer)
            }
            if let request_put {
                writer.key("request_put")
                request_put.write(to: &writer)
            }
            if let request_delete_range {
                writer.key("request_delete_range")
                request_delete_range.write(to: &writer)
            }
            if let request_txn {
                writer.key("request_txn")
                request_txn.write(to: &writer)
            }
        }
    }
}

extension WireTxnRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.key("compare")
            writer.array(compare) { writer, compare in compare.write(to: &writer) }
            writer.key("success")
            writer.array(success) { writer, operation in operation.write(to: &writer) }
            writer.key("failure")
            writer.array(failure) { writer, operation in operation.write(to: &writer) }
        }
    }
}

extension WireLeaseIDRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in writer.field("ID", ID) }
    }
}

extension WireEmptyRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { _ in }
    }
}

extension WireResponseHeader: JSONReadable {
    init(json: JSONValue) throws {
        self.init()
        cluster_id = try json["cluster_id"]?.present.map { WireUInt64(try $0.integer()) }
        member_id = try json["member_id"]?.present.map { WireUInt64(try $0.integer()) }
        revision = try json["revision"]?.present.map { WireInt64(try $0.integer()) }
        raft_term = try json["raft_term"]?.present.map { WireUInt64(try $0.integer()) }
    }
}

extension WireKeyValue: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            key: try json["key"]?.present.map { WireBytes(try $0.base64Bytes()) },
            create_revision: try json["create_revision"]?.present.map { WireInt64(try $0.integer()) },
            mod_revision: try json["mod_revision"]?.present.map { WireInt64(try $0.integer()) },
            version: try json["version"]?.present.map { WireInt64(try $0.integer()) },
            value: try json["value"]?.present.map { WireBytes(try $0.base64Bytes()) },
            lease: try json["lease"]?.present.map { WireInt64(try $0.integer()) })
    }
}

extension WireRangeResponse: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            header: try json["header"]?.present.map(WireResponseHeader.init(json:)),
            kvs: try json["kvs"]?.present.map { try $0.elements().map(WireKeyValue.init(json:)) },
            more: try json["more"]?.present.map { try $0.boolean() },
            count: try json["count"]?.present.map { WireInt64(try $0.integer()) })
    }
}

extension WirePutResponse: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            header: try json["header"]?.present.map(WireResponseHeader.init(json:)),
            prev_kv: try json["prev_kv"]?.present.map(WireKeyValue.init(json:)))
    }
}

extension WireDeleteRangeResponse: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            header: try json["header"]?.present.map(WireResponseHeader.init(json:)),
            deleted: try json["deleted"]?.present.map { WireInt64(try $0.integer()) },
            prev_kvs: try json["prev_kvs"]?.present.map { try $0.elements().map(WireKeyValue.init(json:)) })
    }
}

extension WireResponseOp: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            response_range: try json["response_range"]?.present.map(WireRangeResponse.init(json:)),
            response_put: try json["response_put"]?.present.map(WirePutResponse.init(json:)),
            response_delete_range: try json["response_delete_range"]?.present.map(WireDeleteRangeResponse.init(json:)),
            response_txn: try json["response_txn"]?.present.map(WireTxnResponse.init(json:)))
    }
}

extension WireTxnResponse: JSONReadable {
    convenience init(json: JSONValue) throws {
        self.init(
            header: try json["header"]?.present.map(WireResponseHeader.init(json:)),
            succeeded: try json["succeeded"]?.present.map { try $0.boolean() },
            responses: try json["responses"]?.present.map { try $0.elements().map(WireResponseOp.init(json:)) })
    }
}

extension WireLeaseKeepAliveResponse: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            header: try json["header"]?.present.map(WireResponseHeader.init(json:)),
            ID: try json["ID"]?.present.map { WireInt64(try $0.integer()) },
            TTL: try json["TTL"]?.present.map { WireInt64(try $0.integer()) })
    }
}

extension WireStreamErrorCodable: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            grpc_code: try json["grpc_code"]?.present.map { try $0.integer() },
            http_code: try json["http_code"]?.present.map { try $0.integer() },
            message: try json["message"]?.present.map { try $0.text() })
    }
}

extension WireLeaseKeepAliveStreamMessage: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            result: try json["result"]?.present.map(WireLeaseKeepAliveResponse.init(json:)),
            error: try json["error"]?.present.map(WireStreamErrorCodable.init(json:)))
    }
}
