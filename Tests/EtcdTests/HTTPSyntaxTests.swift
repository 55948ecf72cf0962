import HTTPCore
import Testing

/// The message syntax the gateway client and the lock service's server share.
@Suite("HTTP/1.1 syntax shared by client and server", .timeLimit(.minutes(1)))
struct HTTPSyntaxTests {
    @Test("header fields: name lowercased and value trimmed; no colon, an empty or spaced name, or control characters are refused")
    func fields() {
        let parsed = HTTPSyntax.field(Array("Content-Type: \t application/json \t".utf8))
        #expect(parsed?.name == "content-type")
        #expect(parsed?.value == "application/json")
        #expect(HTTPSyntax.field(Array("X-Empty:".utf8))?.value == "")
        for bad in ["no colon here", ": value", "Bad Name: x", " Leading: x", "X: a\u{1}b", "X\u{7f}: y"] {
            #expect(HTTPSyntax.field(Array(bad.utf8)) == nil, "\(bad.debugDescription)")
        }
    }

    @Test("Content-Length: absent, a length, or invalid when not digits, too long, or conflicting")
    func contentLength() {
        func length(_ values: [String]) -> HTTPSyntax.ContentLength {
            HTTPSyntax.contentLength(values.map { ("content-length", $0) } + [("host", "x")])
        }
        #expect(length([]) == .absent)
        #expect(length(["0"]) == .bytes(0))
        #expect(length(["42", "42"]) == .bytes(42))
        for bad in [["+5"], ["-1"], ["1a"], [""], ["5 5"], ["3", "4"], [String(repeating: "9", count: 19)]] {
            #expect(length(bad) == .invalid, "\(bad)")
        }
    }

    @Test("the end of a head is the first empty line; a bare LF or CR is found; CR LF is searched from an offset")
    func framing() {
        let message = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody\r\n\r\n".utf8)
        #expect(HTTPSyntax.headEnd(in: message) == 23)
        #expect(HTTPSyntax.headEnd(in: Array("GET / HTTP/1.1\r\nHost: x\r\n".utf8)) == nil)
        #expect(HTTPSyntax.firstCRLF(in: message) == 14)
        #expect(HTTPSyntax.firstCRLF(in: message, from: 15) == 23)
        func bare(_ text: String) -> Int? { HTTPSyntax.firstBareLineBreak(in: Array(text.utf8), before: text.utf8.count) }
        #expect(bare("GET / HTTP/1.1\nHost: x\r\n") == 14)
        #expect(bare("GET / HTTP/1.1\rHost: x\r\n") == 14)
        #expect(bare("GET / HTTP/1.1\r\nHost: x\r\n") == nil)
        #expect(bare("GET / HTTP/1.1\r") == nil)  // its LF may still come
    }
}
