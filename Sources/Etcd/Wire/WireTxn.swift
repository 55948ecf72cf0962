struct WireCompare: Codable {
    var result: String
    var target: String
    var key: WireBytes
    var range_end: WireBytes?
    var version: WireInt64?
    var create_revision: WireInt64?
    var mod_revision: WireInt64?
    var value: WireBytes?
    var lease: WireInt64?
}

struct WireRequestOp: Codable {
    var request_range: WireRangeRequest?
    var request_put: WirePutRequest?
    var request_delete_range: WireDeleteRangeRequest?
    var request_txn: WireTxnRequest?
}

final class WireTxnRequest: Codable {
    var compare: [WireCompare]
    var success: [WireRequestOp]
    var failure: [WireRequestOp]

    init(compare: [WireCompare], success: [WireRequestOp], failure: [WireRequestOp]) {
        self.compare = compare
        self.success = success
        self.failure = failure
    }
}

struct WireResponseOp: Codable {
    var response_range: WireRangeResponse?
    var response_put: WirePutResponse?
    var response_delete_range: WireDeleteRangeResponse?
    var response_txn: WireTxnResponse?
}

final class WireTxnResponse: Codable {
    var header: WireResponseHeader?
    var succeeded: Bool?
    var responses: [WireResponseOp]?

    init(header: WireResponseHeader?, succeeded: Bool?, responses: [WireResponseOp]?) {
        self.header = header
        self.succeeded = succeeded
        self.responses = responses
    }
}
