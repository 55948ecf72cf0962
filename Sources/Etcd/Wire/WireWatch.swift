struct WireWatchCreateRequest: Codable {
    var key: WireBytes
    var range_end: WireBytes?
    var start_revision: WireInt64?
    var progress_notify: Bool?
    var filters: [String]?
    var prev_kv: Bool?
}

struct WireWatchRequest: Codable {
    var create_request: WireWatchCreateRequest
}

struct WireEvent: Codable {
    var type: String?
    var kv: WireKeyValue?
    var prev_kv: WireKeyValue?
}

struct WireWatchResponse: Codable {
    var header: WireResponseHeader?
    var watch_id: WireInt64?
    var created: Bool?
    var canceled: Bool?
    var compact_revision: WireInt64?
    var cancel_reason: String?
    var fragment: Bool?
    var events: [WireEvent]?
}

/// One streamed watch message: `{"result": {...}}` or `{"error": {...}}`.
struct WireWatchStreamMessage: Codable {
    var result: WireWatchResponse?
    var error: WireStreamErrorCodable?
}
