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

    @Test("a search resumed where an earlier one stopped finds what a whole search finds, however the bytes were cut")
    func resumedSearches() {
        for text in ["GET / HTTP/1.1\r\nHost: x\r\n\r\nrest", "GET / HTTP/1.1\r\nHost: x\nrest\r\n\r\n", "GET / HTTP/1.1\r\nA: b\rc\r\n\r\n"] {
            let whole = Array(text.utf8)
            let end = HTTPSyntax.headEnd(in: whole)
            let bare = HTTPSyntax.firstBareLineBreak(in: whole, before: end ?? whole.count)
            // As a server sees them arriving a byte at a time: each search resumes where the last stopped.
            var scanned = 0
            var found: (end: Int?, bare: Int?) = (nil, nil)
            for count in 1...whole.count where found == (nil, nil) {
                let part = Array(whole[..<count])
                let partEnd = HTTPSyntax.headEnd(in: part, from: max(0, scanned - 3))
                let partBare = HTTPSyntax.firstBareLineBreak(in: part, from: max(0, scanned - 1), before: partEnd ?? part.count)
                found = (partEnd, partBare)
                scanned = count
            }
            // The first of the two to show is what the server acts on: a bare break refuses the head.
            #expect(found.bare == bare, "\(text.debugDescription)")
            if bare == nil { #expect(found.end == end, "\(text.debugDescription)") }
        }
    }
}
