/// Splits a byte stream into `\n`-terminated lines (etcd's gateway ends every streamed JSON
/// object with a newline), however the bytes were cut into reads.
///
/// Each byte is scanned once: a partial line remembers how far it was searched.
struct LineFramer {
    private var pending: [UInt8] = []
    private var scanned = 0

    /// The most bytes one line may hold before the stream is considered broken.
    let maximumLineBytes: Int

    /// Creates a framer that rejects lines longer than `maximumLineBytes`.
    init(maximumLineBytes: Int = 64 * 1024 * 1024) {
        self.maximumLineBytes = maximumLineBytes
    }

    /// Appends `bytes` and hands every completed, non-blank line to `emit`.
    mutating func append(_ bytes: ArraySlice<UInt8>, emit: ([UInt8]) throws -> Void) throws {
        pending.append(contentsOf: bytes)
        var lineStart = 0
        var index = scanned
        let count = pending.count
        while index < count {
            if pending[index] == 10 {
                if let line = Self.trimmed(pending[lineStart..<index]) { try emit(line) }
                lineStart = index + 1
            }
            index += 1
        }
        if lineStart > 0 {
            pending.removeFirst(lineStart)
        }
        scanned = pending.count
        if pending.count > maximumLineBytes {
            throw HTTPParseError("streamed message longer than \(maximumLineBytes) bytes")
        }
    }

    /// Returns what is left after the stream ended (an unterminated last line), if anything.
    mutating func finish() -> [UInt8]? {
        defer {
            pending = []
            scanned = 0
        }
        return Self.trimmed(pending[...])
    }

    private static func trimmed(_ line: ArraySlice<UInt8>) -> [UInt8]? {
        var slice = line
        while let last = slice.last, last == 13 || last == 32 { slice = slice.dropLast() }
        while let first = slice.first, first == 32 || first == 13 { slice = slice.dropFirst() }
        return slice.isEmpty ? nil : Array(slice)
    }
}
