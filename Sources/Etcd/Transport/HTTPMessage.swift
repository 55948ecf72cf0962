/// The status line and headers of an HTTP/1.1 response.
struct HTTPResponseHead: Sendable, Equatable {
    /// The status code, e.g. 200.
    var status: Int
    /// Header fields in arrival order; names are lowercased.
    var headers: [(name: String, value: String)]

    /// The first value of the header `name` (case-insensitive).
    func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name == lowered }?.value
    }

    static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.status == rhs.status && lhs.headers.elementsEqual(rhs.headers) { $0 == $1 }
    }
}

/// A complete HTTP/1.1 response to a unary request.
struct HTTPResponse: Sendable {
    /// Status and headers.
    var head: HTTPResponseHead
    /// The whole body, de-chunked.
    var body: [UInt8]
}

/// One POST request to the etcd gateway, serialized once and sent as is.
struct HTTPRequest: Sendable {
    /// The request path, e.g. `/v3/kv/range`.
    var path: String
    /// The JSON body.
    var body: [UInt8]
    /// The `Authorization` header value, if any (etcd takes the raw token).
    var authorization: String?
    /// Asks etcd to fail the call (a watch: cancel it) when the member has no leader, instead of
    /// serving it silently from a partitioned member. The gateway forwards it as gRPC metadata.
    var requiresLeader = false

    /// The bytes that go on the wire for `host` (as `host:port`).
    func serialized(host: String) -> [UInt8] {
        var head = "POST \(path) HTTP/1.1\r\nHost: \(host)\r\nContent-Type: application/json\r\n"
        head += "Content-Length: \(body.count)\r\n"
        if let authorization { head += "Authorization: \(authorization)\r\n" }
        if requiresLeader { head += "Grpc-Metadata-hasleader: true\r\n" }
        head += "\r\n"
        var bytes = Array(head.utf8)
        bytes.reserveCapacity(bytes.count + body.count)
        bytes.append(contentsOf: body)
        return bytes
    }
}
