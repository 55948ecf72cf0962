struct WireResponseHeader: Codable {
    var cluster_id: WireUInt64?
    var member_id: WireUInt64?
    var revision: WireInt64?
    var raft_term: WireUInt64?

    var model: ResponseHeader {
        ResponseHeader(
            clusterID: cluster_id.orZero, memberID: member_id.orZero, revision: Revision(revision.orZero),
            raftTerm: raft_term.orZero)
    }
}

extension Optional where Wrapped == WireResponseHeader {
    /// The header, with zeros when the gateway omitted it.
    var model: ResponseHeader { (self ?? WireResponseHeader()).model }
}

struct WireKeyValue: Codable {
    var key: WireBytes?
    var create_revision: WireInt64?
    var mod_revision: WireInt64?
    var version: WireInt64?
    var value: WireBytes?
    var lease: WireInt64?

    var model: KeyValue {
        let leaseNumber = lease.orZero
        return KeyValue(
            key: EtcdKey(bytes: key.orEmpty), value: value.orEmpty, createRevision: Revision(create_revision.orZero),
            modRevision: Revision(mod_revision.orZero), version: version.orZero,
            lease: leaseNumber == 0 ? nil : LeaseID(leaseNumber))
    }
}

struct WireRangeRequest: Codable {
    var key: WireBytes
    var range_end: WireBytes?
    var limit: WireInt64?
    var revision: WireInt64?
    var sort_order: String?
    var sort_target: String?
    var serializable: Bool?
    var keys_only: Bool?
    var count_only: Bool?
    var min_mod_revision: WireInt64?
    var max_mod_revision: WireInt64?
    var min_create_revision: WireInt64?
    var max_create_revision: WireInt64?
}

struct WireRangeResponse: Codable {
    var header: WireResponseHeader?
    var kvs: [WireKeyValue]?
    var more: Bool?
    var count: WireInt64?
}

struct WirePutRequest: Codable {
    var key: WireBytes
    var value: WireBytes?
    var lease: WireInt64?
    var prev_kv: Bool?
    var ignore_value: Bool?
    var ignore_lease: Bool?
}

struct WirePutResponse: Codable {
    var header: WireResponseHeader?
    var prev_kv: WireKeyValue?
}

struct WireDeleteRangeRequest: Codable {
    var key: WireBytes
    var range_end: WireBytes?
    var prev_kv: Bool?
}

struct WireDeleteRangeResponse: Codable {
    var header: WireResponseHeader?
    var deleted: WireInt64?
    var prev_kvs: [WireKeyValue]?
}

struct WireCompactionRequest: Codable {
    var revision: WireInt64
    var physical: Bool?
}

struct WireCompactionResponse: Codable {
    var header: WireResponseHeader?
}
