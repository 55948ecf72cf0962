struct WireLeaseGrantRequest: Codable {
    var TTL: WireInt64
    var ID: WireInt64?
}

struct WireLeaseGrantResponse: Codable {
    var header: WireResponseHeader?
    var ID: WireInt64?
    var TTL: WireInt64?
    var error: String?
}

struct WireLeaseIDRequest: Codable {
    var ID: WireInt64
}

struct WireLeaseRevokeResponse: Codable {
    var header: WireResponseHeader?
}

struct WireLeaseKeepAliveResponse: Codable {
    var header: WireResponseHeader?
    var ID: WireInt64?
    var TTL: WireInt64?
}

/// A streamed keepalive answer: `{"result": {...}}` or `{"error": {...}}`.
struct WireLeaseKeepAliveStreamMessage: Codable {
    var result: WireLeaseKeepAliveResponse?
    var error: WireStreamErrorCodable?
}

struct WireLeaseTimeToLiveRequest: Codable {
    var ID: WireInt64
    var keys: Bool?
}

struct WireLeaseTimeToLiveResponse: Codable {
    var header: WireResponseHeader?
    var ID: WireInt64?
    var TTL: WireInt64?
    var grantedTTL: WireInt64?
    var keys: [WireBytes]?
}

struct WireLeaseLeasesResponse: Codable {
    var header: WireResponseHeader?
    var leases: [WireLeaseStatus]?
}

struct WireLeaseStatus: Codable {
    var ID: WireInt64?
}

/// ``WireStreamError`` in codable form, for messages we also encode in tests.
struct WireStreamErrorCodable: Codable {
    var grpc_code: Int?
    var http_code: Int?
    var message: String?
}

struct WireEmptyRequest: Codable {}
