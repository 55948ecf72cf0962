// Lease grants and revocations run once per stateless handle (each service acquisition has a
// lease of its own): written and read by hand, as the KV types are.

extension WireLeaseGrantRequest: JSONWritable {
    func write(to writer: inout JSONWriter) {
        writer.object { writer in
            writer.field("TTL", TTL)
            writer.field("ID", ID)
        }
    }
}

extension WireLeaseGrantResponse: JSONReadable {
    init(json: JSONValue) throws {
        self.init(
            header: try json["header"]?.present.map(WireResponseHeader.init(json:)),
            ID: try json["ID"]?.present.map { WireInt64(try $0.integer()) },
            TTL: try json["TTL"]?.present.map { WireInt64(try $0.integer()) },
            error: try json["error"]?.present.map { try $0.text() })
    }
}

extension WireLeaseRevokeResponse: JSONReadable {
    init(json: JSONValue) throws {
        self.init(header: try json["header"]?.present.map(WireResponseHeader.init(json:)))
    }
}
