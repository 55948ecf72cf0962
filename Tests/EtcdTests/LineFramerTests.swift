import Testing

@testable import Etcd

@Suite("stream framing", .timeLimit(.minutes(1)))
struct LineFramerTests {
    private func frame(_ pieces: [String]) throws -> [String] {
        var framer = LineFramer()
        var lines: [String] = []
        for piece in pieces {
            try framer.append(ArraySlice(piece.utf8)) { lines.append(String(decoding: $0, as: UTF8.self)) }
        }
        if let rest = framer.finish() { lines.append(String(decoding: rest, as: UTF8.self)) }
        return lines
    }

    @Test("an object split over many chunks comes out whole")
    func splitObject() throws {
        let message = GoldenJSON.watchPut + "\n"
        let pieces = stride(from: 0, to: message.count, by: 3).map { start -> String in
            let from = message.index(message.startIndex, offsetBy: start)
            let to = message.index(from, offsetBy: min(3, message.distance(from: from, to: message.endIndex)))
            return String(message[from..<to])
        }
        #expect(try frame(pieces) == [GoldenJSON.watchPut])
    }

    @Test("several objects in one chunk come out one by one, in order")
    func severalInOneChunk() throws {
        let chunk = [GoldenJSON.watchCreated, GoldenJSON.watchPut, GoldenJSON.watchDelete].joined(separator: "\n") + "\n"
        #expect(try frame([chunk]) == [GoldenJSON.watchCreated, GoldenJSON.watchPut, GoldenJSON.watchDelete])
    }

    @Test("blank lines and CRLF endings are ignored; an unterminated last line is returned at the end")
    func blankAndUnterminated() throws {
        #expect(try frame(["a\r\n\n\nb", "c\r\n", "\n", "tail"]) == ["a", "bc", "tail"])
    }

    @Test("a line longer than the limit is an error")
    func tooLong() {
        var framer = LineFramer(maximumLineBytes: 8)
        #expect(throws: HTTPParseError.self) {
            try framer.append(ArraySlice("0123456789".utf8)) { _ in }
        }
    }
}
