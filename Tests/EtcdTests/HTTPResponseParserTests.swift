import Testing

@testable import Etcd

@Suite("HTTP/1.1 response parsing", .timeLimit(.minutes(1)))
struct HTTPResponseParserTests {
    /// Feeds `bytes` in pieces of `pieceSize` the way reads would deliver them.
    private func parse(_ bytes: [UInt8], pieceSize: Int, endOfStream: Bool = false) throws -> (
        head: HTTPResponseHead?, body: [UInt8], ended: Bool, keepAlive: Bool
    ) {
        var parser = HTTPResponseParser()
        var buffer: [UInt8] = []
        var head: HTTPResponseHead?
        var body: [UInt8] = []
        var ended = false
        let emit: (HTTPResponseParser.Output) -> Void = { output in
            switch output {
            case .head(let value): head = value
            case .body(let bytes): body.append(contentsOf: bytes)
            case .end: ended = true
            }
        }
        var offset = 0
        while offset < bytes.count {
            let end = min(bytes.count, offset + pieceSize)
            buffer.append(contentsOf: bytes[offset..<end])
            offset = end
            let consumed = try parser.consume(buffer, emit: emit)
            buffer.removeFirst(consumed)
        }
        if endOfStream { try parser.finishAtEndOfStream(emit: emit) }
        return (head, body, ended, parser.isKeepAlive)
    }

    @Test("etcd's chunked error answer with a trailer parses whole, in any read sizes", arguments: [1, 3, 7, 64, 4096])
    func chunkedWithTrailer(pieceSize: Int) throws {
        let result = try parse(GoldenJSON.bytes(GoldenJSON.revokeUnknownLeaseResponse), pieceSize: pieceSize)
        #expect(result.head?.status == 404)
        #expect(result.head?.header("trailer") == "Grpc-Trailer-Content-Type")
        #expect(result.body == GoldenJSON.bytes(GoldenJSON.errorLeaseNotFound))
        #expect(result.ended)
        #expect(result.keepAlive)
    }

    @Test("a Content-Length body ends exactly at its length")
    func contentLength() throws {
        let text = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Type: application/json\r\n\r\nhello"
        let result = try parse(GoldenJSON.bytes(text), pieceSize: 2)
        #expect(result.head?.status == 200)
        #expect(result.body == GoldenJSON.bytes("hello"))
        #expect(result.ended)
    }

    @Test("Connection: close and HTTP/1.0 forbid reusing the connection")
    func connectionClose() throws {
        let closing = try parse(GoldenJSON.bytes("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"), pieceSize: 100)
        #expect(closing.ended && !closing.keepAlive)
        let old = try parse(GoldenJSON.bytes("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"), pieceSize: 100)
        #expect(old.ended && !old.keepAlive)
    }

    @Test("a body without length runs until the connection closes")
    func untilClose() throws {
        let result = try parse(GoldenJSON.bytes("HTTP/1.1 200 OK\r\n\r\nabc"), pieceSize: 100, endOfStream: true)
        #expect(result.body == GoldenJSON.bytes("abc"))
        #expect(result.ended && !result.keepAlive)
    }

    @Test("a chunked body cut off by end of stream is an error, not a short success")
    func truncatedChunked() throws {
        let text = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n01234"
        #expect(throws: HTTPParseError.self) { try parse(GoldenJSON.bytes(text), pieceSize: 100, endOfStream: true) }
    }

    @Test(
        "malformed responses throw",
        arguments: [
            "SMTP ready\r\n\r\n",
            "HTTP/1.1 abc OK\r\n\r\n",
            "HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
            "HTTP/1.1 200 OK\r\nContent-Length: -4\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY",
        ])
    func malformed(text: String) {
        #expect(throws: HTTPParseError.self) { try parse(GoldenJSON.bytes(text), pieceSize: 100) }
    }

    @Test("an endless header line is rejected once it passes the limit")
    func endlessHeader() {
        let text = "HTTP/1.1 200 OK\r\nX: " + String(repeating: "a", count: HTTPResponseParser.maximumHeadBytes + 10)
        #expect(throws: HTTPParseError.self) { try parse(GoldenJSON.bytes(text), pieceSize: 8192) }
    }

    @Test("a chunk size with a sign or other non-hex characters is malformed", arguments: ["+1a", "-1", " 0x1", "1g", ""])
    func signedChunkSize(size: String) {
        let bytes = Array("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\(size)\r\n\(String(repeating: "x", count: 26))\r\n0\r\n\r\n".utf8)
        #expect(throws: HTTPParseError.self) { try parse(bytes, pieceSize: 4096) }
    }

    @Test("a response framed both by Content-Length and chunked is read by its chunks and never reused")
    func conflictingFraming() throws {
        let bytes = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n".utf8)
        let result = try parse(bytes, pieceSize: 4096)
        #expect(result.ended && result.body == Array("{}".utf8))
        #expect(!result.keepAlive)
    }
}
