import HTTPCore

/// Parses one HTTP/1.1 request from the bytes a connection received, within limits.
///
/// Deliberately small: request line, header fields and a `Content-Length` body. Chunked request
/// bodies are refused (no client of the lock API needs them). Header fields, the end of the head,
/// bare line breaks and `Content-Length` are judged by `HTTPCore`'s rules, the same the gateway
/// client's response parser uses.
struct HTTPRequestParser {
    /// The most bytes of request line plus header fields.
    var maximumHeaderBytes: Int
    /// The largest body accepted.
    var maximumBodyBytes: Int

    /// What the bytes received so far amount to.
    enum Outcome {
        /// More bytes are needed. `expectsContinue` when the head asked for `100 Continue`
        /// before its body (curl does this for bodies over 1 KiB). The next parse of the same
        /// bytes and more may resume at `scanned` (where no head has ended), and is only worth
        /// making once `needs` bytes (the whole request, when the head is known) have arrived: a
        /// caller that sends its request a byte at a time costs a scan of each byte, not of the
        /// whole head each time.
        case incomplete(expectsContinue: Bool, scanned: Int, needs: Int)
        /// A whole request, which used the first `consumed` bytes.
        case request(HTTPRequest, consumed: Int, keepAlive: Bool)
        /// The bytes are not an acceptable request: answer `status` and close.
        case refused(status: Int, code: String, message: String)
    }

    /// Parses `bytes`, of which the first `scanned` are known to hold no complete head (an
    /// earlier ``Outcome/incomplete(expectsContinue:scanned:needs:)`` said so).
    func parse(_ bytes: [UInt8], scanned: Int = 0) -> Outcome {
        let headEnd = HTTPSyntax.headEnd(in: bytes, from: max(0, scanned - 3))
        // A line must end in CRLF: a bare LF (or CR) is refused at once (RFC 9112 §2.2), rather
        // than left waiting for a CRLF CRLF that a client ending lines in LF never sends.
        if let bare = HTTPSyntax.firstBareLineBreak(in: bytes, from: max(0, scanned - 1), before: headEnd ?? bytes.count) {
            return .refused(status: 400, code: "bad_request", message: "a bare \(bytes[bare] == 10 ? "LF" : "CR") in the request head; end lines with CRLF")
        }
        guard let headEnd else {
            if bytes.count > maximumHeaderBytes {
                return .refused(status: 431, code: "headers_too_large", message: "the request head exceeds \(maximumHeaderBytes) bytes")
            }
            return .incomplete(expectsContinue: false, scanned: bytes.count, needs: bytes.count + 1)
        }
        guard headEnd <= maximumHeaderBytes else {
            return .refused(status: 431, code: "headers_too_large", message: "the request head exceeds \(maximumHeaderBytes) bytes")
        }
        // The head is split on bytes (CR LF lines, spaces in the request line): every request
        // goes through here, and Character-wise splitting of a String costs far more.
        guard String(validating: bytes[..<headEnd], as: UTF8.self) != nil else {
            return .refused(status: 400, code: "bad_request", message: "the request head is not UTF-8")
        }
        let lineEnd = HTTPSyntax.firstCRLF(in: bytes) ?? headEnd
        let requestLine = bytes[..<lineEnd].split(separator: UInt8(ascii: " "), omittingEmptySubsequences: false)
        guard requestLine.count == 3, !requestLine[0].isEmpty, requestLine[1].first == UInt8(ascii: "/"),
            requestLine[2].elementsEqual("HTTP/1.1".utf8) || requestLine[2].elementsEqual("HTTP/1.0".utf8)
        else {
            return .refused(status: 400, code: "bad_request", message: "malformed request line")
        }
        var headers: [HTTPSyntax.Field] = []
        var lineStart = lineEnd + 2
        while lineStart < headEnd + 2 {
            let end = min(HTTPSyntax.firstCRLF(in: bytes, from: lineStart) ?? headEnd, headEnd)
            guard let field = HTTPSyntax.field(bytes[lineStart..<end]) else {
                return .refused(status: 400, code: "bad_request", message: "malformed header field")
            }
            headers.append(field)
            lineStart = end + 2
        }
        // One credential and one host per request: were a proxy in front to honour another copy
        // than this server does, the two would authorize different callers.
        for name in ["authorization", "host"] where headers.filter({ $0.name == name }).count > 1 {
            return .refused(status: 400, code: "bad_request", message: "the \(name) header is given more than once")
        }
        if headers.contains(where: { $0.name == "transfer-encoding" }) {
            return .refused(status: 400, code: "bad_request", message: "chunked request bodies are not supported; send Content-Length")
        }
        let length: Int
        switch HTTPSyntax.contentLength(headers) {
        case .absent: length = 0
        case .bytes(let bytes): length = bytes
        case .invalid: return .refused(status: 400, code: "bad_request", message: "invalid Content-Length")
        }
        guard length <= maximumBodyBytes else {
            return .refused(status: 413, code: "body_too_large", message: "the body exceeds \(maximumBodyBytes) bytes")
        }
        let bodyStart = headEnd + 4
        guard bytes.count - bodyStart >= length else {
            let expects = headers.contains { $0.name == "expect" && $0.value.lowercased() == "100-continue" }
            return .incomplete(expectsContinue: expects, scanned: 0, needs: bodyStart + length)
        }
        let text = { (part: ArraySlice<UInt8>) in String(decoding: part, as: UTF8.self) }
        let target = requestLine[1]
        let question = target.firstIndex(of: UInt8(ascii: "?"))
        let version = text(requestLine[2])
        let connection = headers.first { $0.name == "connection" }?.value.lowercased()
        let keepAlive = version == "HTTP/1.1" ? connection != "close" : connection == "keep-alive"
        let request = HTTPRequest(
            method: text(requestLine[0]), version: version, path: text(target[..<(question ?? target.endIndex)]),
            query: question.map { text(target[($0 + 1)...]) } ?? "", headers: headers,
            body: Array(bytes[bodyStart..<(bodyStart + length)]))
        return .request(request, consumed: bodyStart + length, keepAlive: keepAlive)
    }
}

/// Percent-decodes `text` (a path segment or a query component; `+` is a space in queries).
/// `nil` when an escape is malformed or the bytes are not UTF-8.
func percentDecoded(_ text: Substring, plusIsSpace: Bool = false) -> String? {
    var bytes: [UInt8] = []
    var iterator = text.utf8.makeIterator()
    while let byte = iterator.next() {
        if byte == UInt8(ascii: "+"), plusIsSpace {
            bytes.append(UInt8(ascii: " "))
        } else if byte == UInt8(ascii: "%") {
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        } else {
            bytes.append(byte)
        }
    }
    return String(validating: bytes, as: UTF8.self)
}
