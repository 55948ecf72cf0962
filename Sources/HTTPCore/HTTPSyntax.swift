/// The HTTP/1.1 message syntax that the package's client (to etcd's gateway) and its server
/// (the lock service) share, so that both read header fields, find the end of a head and
/// judge `Content-Length` by one set of rules (RFC 9112), each with its own limits.
package enum HTTPSyntax {
    /// One header field: the name lowercased, the value without surrounding spaces and tabs.
    package typealias Field = (name: String, value: String)

    /// What a message's `Content-Length` fields say.
    package enum ContentLength: Equatable, Sendable {
        /// No `Content-Length` field.
        case absent
        /// A valid length (every field agreeing).
        case bytes(Int)
        /// Not a length: not digits only, too long, or fields that disagree (the shape of
        /// request smuggling). A message with one cannot be framed.
        case invalid
    }

    /// The index of the first CR LF at or after `start`, if any.
    package static func firstCRLF(in bytes: [UInt8], from start: Int = 0) -> Int? {
        var index = start
        let last = bytes.count - 1
        while index < last {
            if bytes[index] == 13, bytes[index + 1] == 10 { return index }
            index += 1
        }
        return nil
    }

    /// The index where a message head ends (its empty line's CR LF CR LF), if it has arrived,
    /// looking from `start` on (a caller that looked before resumes where it stopped, less 3).
    package static func headEnd(in bytes: [UInt8], from start: Int = 0) -> Int? {
        var index = start
        while let crlf = firstCRLF(in: bytes, from: index) {
            if crlf + 3 < bytes.count, bytes[crlf + 2] == 13, bytes[crlf + 3] == 10 { return crlf }
            index = crlf + 2
        }
        return nil
    }

    /// The index of the first bare line break among the first `end` bytes: an LF not preceded by
    /// CR, or a CR not followed by LF (a CR last of all the bytes is not bare yet: its LF may
    /// follow). HTTP/1.1 lines end with CR LF (RFC 9112 §2.2); read leniently elsewhere, a bare
    /// one lets two parsers disagree on where a message ends.
    ///
    /// Looks from `start` on (a caller that looked before resumes where it stopped, less 1).
    package static func firstBareLineBreak(in bytes: [UInt8], from start: Int = 0, before end: Int) -> Int? {
        var index = start
        while index < min(end, bytes.count) {
            if bytes[index] == 10, index == 0 || bytes[index - 1] != 13 { return index }
            if bytes[index] == 13, index + 1 < bytes.count, bytes[index + 1] != 10 { return index }
            index += 1
        }
        return nil
    }

    /// Parses one header field line (without its CR LF); `nil` when it is not `name: value`
    /// with a non-empty name free of whitespace and control characters.
    ///
    /// Byte by byte over a concrete type: every request and every etcd answer goes through it.
    package static func field(_ line: ArraySlice<UInt8>) -> Field? {
        line.withUnsafeBufferPointer { bytes -> Field? in
            var colon = -1
            for index in 0..<bytes.count {
                let byte = bytes[index]
                if byte == 58 {
                    colon = index
                    break
                }
                // Name bytes: visible ASCII only.
                guard byte > 32, byte < 127 else { return nil }
            }
            guard colon > 0 else { return nil }
            var start = colon + 1
            var end = bytes.count
            for index in start..<end {
                let byte = bytes[index]
                guard byte >= 32 || byte == 9, byte != 127 else { return nil }
            }
            while start < end, bytes[start] == 32 || bytes[start] == 9 { start += 1 }
            while end > start, bytes[end - 1] == 32 || bytes[end - 1] == 9 { end -= 1 }
            // ASCII-lowercased as it is copied: names are visible ASCII.
            let name = String(unsafeUninitializedCapacity: colon) { name in
                for index in 0..<colon {
                    let byte = bytes[index]
                    name[index] = byte >= 65 && byte <= 90 ? byte + 32 : byte
                }
                return colon
            }
            return (name, String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self))
        }
    }

    /// ``field(_:)-(ArraySlice<UInt8>)`` of a whole array.
    package static func field(_ line: [UInt8]) -> Field? { field(line[...]) }

    /// The first value of field `name` (lowercase) among `fields`.
    package static func value(of name: String, in fields: [Field]) -> String? {
        fields.first { $0.name == name }?.value
    }

    /// What the `Content-Length` fields among `fields` say.
    package static func contentLength(_ fields: [Field]) -> ContentLength {
        let values = fields.filter { $0.name == "content-length" }.map(\.value)
        guard let first = values.first else { return .absent }
        guard values.allSatisfy({ $0 == first }), !first.isEmpty, first.utf8.count <= 18,
            first.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let length = Int(first)
        else { return .invalid }
        return .bytes(length)
    }

    /// `text` without leading and trailing spaces and tabs.
    package static func trimmingSpaces(_ text: some StringProtocol) -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = text.firstIndex(where: { !isSpace($0) }), let last = text.lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(text[first...last])
    }
}
