import HTTPCore

/// An incremental HTTP/1.1 response parser: status line, headers, `Content-Length`,
/// chunked bodies with trailers, and bodies delimited by connection close.
///
/// Feed it bytes as they arrive; it reports the head once, then body segments, then the end.
/// It never traps on malformed input: it throws ``HTTPParseError``.
struct HTTPResponseParser {
    /// What the parser found in the bytes it was given.
    enum Output {
        case head(HTTPResponseHead)
        case body(ArraySlice<UInt8>)
        case end
    }

    private enum State {
        case statusLine
        case headerLines
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailerLines
        case untilClose
        case complete
    }

    /// The most bytes a status line, header block or chunk-size line may take.
    static let maximumHeadBytes = 64 * 1024

    private var state = State.statusLine
    private var status = 0
    private var headers: [(name: String, value: String)] = []
    private var headBytes = 0
    /// Whether the response allows the connection to be reused afterwards.
    private(set) var isKeepAlive = true

    /// Whether the whole response has been parsed.
    var isComplete: Bool {
        if case .complete = state { return true }
        return false
    }

    private var isInHead: Bool {
        switch state {
        case .statusLine, .headerLines: return true
        default: return false
        }
    }

    /// Parses as much of `bytes[start...]` as possible and returns how many bytes it consumed.
    ///
    /// Bytes it did not consume (an incomplete line) must be offered again with more data.
    mutating func consume(
        _ bytes: [UInt8],
        from start: Int = 0,
        emit: (Output) throws -> Void
    ) throws -> Int {
        var index = start
        let end = bytes.count
        while index < end {
            switch state {
            case .statusLine, .headerLines, .chunkSize, .trailerLines:
                guard let lineEnd = HTTPSyntax.firstCRLF(in: bytes, from: index) else {
                    if end - index > Self.maximumHeadBytes {
                        throw HTTPParseError("line longer than \(Self.maximumHeadBytes) bytes")
                    }
                    return index - start
                }
                let line = bytes[index..<lineEnd]
                if isInHead {
                    headBytes += line.count + 2
                    if headBytes > Self.maximumHeadBytes * 4 {
                        throw HTTPParseError("response head longer than \(Self.maximumHeadBytes * 4) bytes")
                    }
                }
                index = lineEnd + 2
                try handleLine(line, emit: emit)
            case .fixedBody(let remaining):
                let take = min(remaining, end - index)
                try emit(.body(bytes[index..<(index + take)]))
                index += take
                if take == remaining {
                    state = .complete
                    try emit(.end)
                } else {
                    state = .fixedBody(remaining: remaining - take)
                }
            case .chunkData(let remaining):
                let take = min(remaining, end - index)
                try emit(.body(bytes[index..<(index + take)]))
                index += take
                state = take == remaining ? .chunkDataEnd : .chunkData(remaining: remaining - take)
            case .chunkDataEnd:
                guard end - index >= 2 else { return index - start }
                guard bytes[index] == 13, bytes[index + 1] == 10 else {
                    throw HTTPParseError("chunk data not followed by CRLF")
                }
                index += 2
                state = .chunkSize
            case .untilClose:
                try emit(.body(bytes[index..<end]))
                index = end
            case .complete:
                return index - start
            }
        }
        return index - start
    }

    /// Tells the parser the connection reached end of stream.
    ///
    /// A body delimited by close ends here; anything else unfinished is a truncated response.
    mutating func finishAtEndOfStream(emit: (Output) throws -> Void) throws {
        switch state {
        case .untilClose:
            state = .complete
            try emit(.end)
        case .complete:
            return
        default:
            throw HTTPParseError("connection closed before the response was complete")
        }
    }

    private mutating func handleLine(_ line: ArraySlice<UInt8>, emit: (Output) throws -> Void) throws {
        switch state {
        case .statusLine:
            // "HTTP/1.1 200 OK"
            let parts = line.split(separator: 32, maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, parts[0].starts(with: Array("HTTP/1.".utf8)),
                let code = Int(String(decoding: parts[1], as: UTF8.self)), (100...599).contains(code)
            else {
                throw HTTPParseError("malformed status line: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
            status = code
            if parts[0].elementsEqual(Array("HTTP/1.0".utf8)) { isKeepAlive = false }
            state = .headerLines
        case .headerLines:
            if line.isEmpty {
                try finishHead(emit: emit)
                return
            }
            guard let field = HTTPSyntax.field(line) else {
                throw HTTPParseError("malformed header line: \(String(decoding: line.prefix(80), as: UTF8.self))")
            }
            headers.append(field)
        case .chunkSize:
            let sizeText = line.prefix { $0 != 59 }  // drop ";extensions"
            let trimmed = HTTPSyntax.trimmingSpaces(String(decoding: sizeText, as: UTF8.self))
            // Hex digits only: `Int(_:radix:)` would also take a sign ("+1a").
            guard !trimmed.isEmpty, trimmed.count <= 15, trimmed.allSatisfy(\.isHexDigit),
                let size = Int(trimmed, radix: 16)
            else {
                throw HTTPParseError("malformed chunk size: \(trimmed.prefix(32))")
            }
            state = size == 0 ? .trailerLines : .chunkData(remaining: size)
        case .trailerLines:
            // etcd's gateway sends `Grpc-Trailer-Content-Type` here; trailers carry nothing we need.
            if line.isEmpty {
                state = .complete
                try emit(.end)
            }
        default:
            throw HTTPParseError("unexpected line")
        }
    }

    private mutating func finishHead(emit: (Output) throws -> Void) throws {
        if status >= 100 && status < 200 {
            // An interim response; the real one follows.
            headers = []
            state = .statusLine
            return
        }
        let head = HTTPResponseHead(status: status, headers: headers)
        if let connection = head.header("connection")?.lowercased() {
            if connection.contains("close") { isKeepAlive = false }
        }
        try emit(.head(head))
        if status == 204 || status == 304 {
            state = .complete
            try emit(.end)
        } else if let encoding = head.header("transfer-encoding"), encoding.lowercased().contains("chunked") {
            // Content-Length beside chunked is a framing conflict (request smuggling's shape):
            // read this response by its chunks, but never reuse the connection after it.
            if head.header("content-length") != nil { isKeepAlive = false }
            state = .chunkSize
        } else if head.header("content-length") != nil {
            guard case .bytes(let length) = HTTPSyntax.contentLength(headers) else {
                throw HTTPParseError("malformed Content-Length: \(head.header("content-length")?.prefix(32) ?? "")")
            }
            if length == 0 {
                state = .complete
                try emit(.end)
            } else {
                state = .fixedBody(remaining: length)
            }
        } else {
            isKeepAlive = false
            state = .untilClose
        }
    }

}

/// A response that does not follow HTTP/1.1.
struct HTTPParseError: Error, Sendable, CustomStringConvertible {
    /// What was wrong, for humans.
    let description: String
    init(_ description: String) { self.description = description }
}
