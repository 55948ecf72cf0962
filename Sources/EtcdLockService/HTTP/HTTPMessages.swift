/// One HTTP/1.1 request as the server parsed it.
public struct HTTPRequest: Sendable {
    /// The method, as sent (`GET`, `POST`, …).
    public var method: String
    /// `HTTP/1.1` or `HTTP/1.0`, as sent.
    public var version: String
    /// The target's path, still percent-encoded (`/v1/locks/a%2Fb:acquire`).
    public var path: String
    /// The target's query string without `?`, still percent-encoded (empty when absent).
    public var query: String
    /// Header fields in order; names in lowercase.
    public var headers: [(name: String, value: String)]
    /// The body (empty when there was none).
    public var body: [UInt8]

    /// The first value of header `name` (lowercase).
    public func header(_ name: String) -> String? {
        headers.first { $0.name == name }?.value
    }
}

/// One HTTP/1.1 response for the server to send.
public struct HTTPResponse: Sendable {
    /// The status code.
    public var status: Int
    /// Header fields besides `Content-Length`, `Connection` and `Date`, which the server adds.
    public var headers: [(name: String, value: String)]
    /// The body.
    public var body: [UInt8]
    /// What to undo when this response could not be delivered: the caller was gone before it was
    /// written, or its TCP never acknowledged it within the write timeout. `nil`: nothing to undo.
    ///
    /// The server runs it as a task it owns and awaits (shutdown waits for it too). An `:acquire`
    /// that succeeded releases the lock here, as nobody holds the handle.
    public var onUndelivered: (@Sendable () async -> Void)?

    /// A response with `status`, `body` of `contentType`.
    public init(status: Int, contentType: String = "application/json", body: [UInt8]) {
        self.status = status
        headers = [("Content-Type", contentType)]
        self.body = body
    }

    /// The reason phrase for `status`.
    static func reason(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 408: "Request Timeout"
        case 409: "Conflict"
        case 410: "Gone"
        case 413: "Content Too Large"
        case 429: "Too Many Requests"
        case 431: "Request Header Fields Too Large"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }

    /// The bytes on the wire, with `Content-Length` and, when the connection ends after it,
    /// `Connection: close`.
    func serialized(closing: Bool) -> [UInt8] {
        var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "Content-Length: \(body.count)\r\n"
        if closing { head += "Connection: close\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}
