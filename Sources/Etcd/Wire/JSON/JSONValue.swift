/// A JSON document read without Codable: the hot gateway answers (txn, range, put, delete)
/// are mapped from it by hand, which costs a fraction of `JSONDecoder`'s generic machinery.
/// Strings and numbers keep their UTF-8 bytes; objects keep their fields in order (duplicates
/// included). The lock service reads its request bodies with it too (``JSONParser/parse(_:strict:)``).
package enum JSONValue: Sendable {
    case null
    case bool(Bool)
    case number([UInt8])
    case string([UInt8])
    case array([JSONValue])
    case object([(key: [UInt8], value: JSONValue)])

    /// The value of field `name` of an object; `nil` for a missing field or a non-object.
    package subscript(name: StaticString) -> JSONValue? {
        guard case .object(let fields) = self else { return nil }
        let wanted = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        for field in fields where field.key.elementsEqual(wanted) { return field.value }
        return nil
    }
}

/// A malformed document, or a field of the wrong type.
package struct JSONReadError: Error, CustomStringConvertible {
    package let description: String

    package init(description: String) { self.description = description }
}

/// A recursive-descent parser of one JSON document.
package struct JSONParser {
    private let bytes: [UInt8]
    private var index = 0
    /// Whether to hold the document to RFC 8259 to the letter (see ``parse(_:strict:)``).
    private let strict: Bool
    /// Deeper nesting than this is refused (the gateway nests a few levels at most).
    private static let maximumDepth = 64

    /// Parses `bytes`, which must hold exactly one JSON value.
    ///
    /// Etcd's answers are read leniently (a number's characters are taken as they come). With
    /// `strict`, what a caller sends is held to RFC 8259: numbers by its grammar, no raw control
    /// characters in strings, strings of valid UTF-8, no unpaired surrogate escapes.
    package static func parse(_ bytes: [UInt8], strict: Bool = false) throws -> JSONValue {
        var parser = JSONParser(bytes: bytes, strict: strict)
        let value = try parser.value(depth: 0)
        parser.skipWhitespace()
        guard parser.index == bytes.count else { throw parser.error("trailing characters") }
        return value
    }

    private init(bytes: [UInt8], strict: Bool) {
        self.bytes = bytes
        self.strict = strict
    }

    private func error(_ what: String) -> JSONReadError {
        JSONReadError(description: "invalid JSON at byte \(index): \(what)")
    }

    private mutating func skipWhitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 {
            index += 1
        }
    }

    private mutating func value(depth: Int) throws -> JSONValue {
        guard depth < Self.maximumDepth else { throw error("nested too deeply") }
        skipWhitespace()
        guard index < bytes.count else { throw error("unexpected end") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try object(depth: depth)
        case UInt8(ascii: "["): return try array(depth: depth)
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func literal(_ text: StaticString) throws {
        let count = text.utf8CodeUnitCount
        guard index + count <= bytes.count,
            bytes[index..<(index + count)].elementsEqual(UnsafeBufferPointer(start: text.utf8Start, count: count))
        else { throw error("unknown literal") }
        index += count
    }

    private mutating func number() throws -> [UInt8] {
        let start = index
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                UInt8(ascii: "e"), UInt8(ascii: "E"):
                index += 1
            default:
                guard index > start else { throw error("unexpected character") }
                return try checkedNumber(Array(bytes[start..<index]))
            }
        }
        guard index > start else { throw error("unexpected end") }
        return try checkedNumber(Array(bytes[start..<index]))
    }

    /// `text`, which strict parsing holds to the number grammar.
    private func checkedNumber(_ text: [UInt8]) throws -> [UInt8] {
        if strict, !Self.isNumber(text) { throw error("not a number") }
        return text
    }

    /// Whether `text` is a number by JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    private static func isNumber(_ text: [UInt8]) -> Bool {
        var index = 0
        func digits() -> Int {
            let start = index
            while index < text.count, text[index] >= 48, text[index] <= 57 { index += 1 }
            return index - start
        }
        if index < text.count, text[index] == UInt8(ascii: "-") { index += 1 }
        guard index < text.count else { return false }
        if text[index] == UInt8(ascii: "0") {
            index += 1
        } else if digits() == 0 {
            return false
        }
        if index < text.count, text[index] == UInt8(ascii: ".") {
            index += 1
            guard digits() > 0 else { return false }
        }
        if index < text.count, text[index] == UInt8(ascii: "e") || text[index] == UInt8(ascii: "E") {
            index += 1
            if index < text.count, text[index] == UInt8(ascii: "+") || text[index] == UInt8(ascii: "-") { index += 1 }
            guard digits() > 0 else { return false }
        }
        return index == text.count
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        index += 1
        var fields: [(key: [UInt8], value: JSONValue)] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(fields)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a field name") }
            let key = try string()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
            index += 1
            fields.append((key, try value(depth: depth + 1)))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
            index += 1
            return .object(fields)
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            elements.append(try value(depth: depth + 1))
            skipWhitespace()
            guard index < bytes.count else { throw error("unexpected end") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                continue
            }
            guard bytes[index] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
            index += 1
            return .array(elements)
        }
    }

    /// A string's UTF-8 bytes, escapes resolved.
    private mutating func string() throws -> [UInt8] {
        index += 1
        let start = index
        // Fast path: no escapes (keys, base64, most messages).
        while index < bytes.count, bytes[index] != UInt8(ascii: "\""), bytes[index] != UInt8(ascii: "\\") { index += 1 }
        guard index < bytes.count else { throw error("unterminated string") }
        var result = Array(bytes[start..<index])
        if strict, result.contains(where: { $0 < 0x20 }) { throw error("a control character in a string") }
        while true {
            guard index < bytes.count else { throw error("unterminated string") }
            let byte = bytes[index]
            index += 1
            if byte == UInt8(ascii: "\"") {
                if strict, String(validating: result, as: UTF8.self) == nil { throw error("a string is not UTF-8") }
                return result
            }
            guard byte == UInt8(ascii: "\\") else {
                if strict, byte < 0x20 { throw error("a control character in a string") }
                result.append(byte)
                continue
            }
            guard index < bytes.count else { throw error("unterminated escape") }
            let escaped = bytes[index]
            index += 1
            switch escaped {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): result.append(escaped)
            case UInt8(ascii: "b"): result.append(0x08)
            case UInt8(ascii: "f"): result.append(0x0C)
            case UInt8(ascii: "n"): result.append(0x0A)
            case UInt8(ascii: "r"): result.append(0x0D)
            case UInt8(ascii: "t"): result.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4()
                if (0xD800..<0xDC00).contains(scalar), index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"),
                    bytes[index + 1] == UInt8(ascii: "u")
                {
                    index += 2
                    let low = try hex4()
                    if strict, !(0xDC00..<0xE000).contains(low) { throw error("an unpaired surrogate") }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low &- 0xDC00)
                } else if strict, (0xD800..<0xE000).contains(scalar) {
                    throw error("an unpaired surrogate")
                }
                result.append(contentsOf: Array(String(Unicode.Scalar(scalar).map(Character.init) ?? "\u{FFFD}").utf8))
            default:
                throw error("unknown escape")
            }
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard index + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let digit = bytes[index]
            index += 1
            let nibble: UInt32
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): nibble = UInt32(digit - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): nibble = UInt32(digit - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): nibble = UInt32(digit - UInt8(ascii: "A") + 10)
            default: throw error("bad \\u escape")
            }
            value = value << 4 | nibble
        }
        return value
    }
}

extension JSONValue {
    /// An integer sent as a string ("123", as the gateway sends 64-bit fields) or a number.
    func integer<Value: FixedWidthInteger>(_: Value.Type = Value.self) throws -> Value {
        switch self {
        case .string(let text), .number(let text):
            guard let value = Value(String(decoding: text, as: UTF8.self)) else {
                throw JSONReadError(description: "not a \(Value.self): \(String(decoding: text.prefix(40), as: UTF8.self))")
            }
            return value
        default:
            throw JSONReadError(description: "expected an integer")
        }
    }

    /// A boolean.
    func boolean() throws -> Bool {
        guard case .bool(let value) = self else { throw JSONReadError(description: "expected a boolean") }
        return value
    }

    /// Base64 text decoded to bytes.
    func base64Bytes() throws -> [UInt8] {
        guard case .string(let text) = self else { throw JSONReadError(description: "expected a base64 string") }
        guard let bytes = Base64.decode(text) else { throw JSONReadError(description: "invalid base64") }
        return bytes
    }

    /// Text.
    func text() throws -> String {
        guard case .string(let text) = self else { throw JSONReadError(description: "expected a string") }
        return String(decoding: text, as: UTF8.self)
    }

    /// The elements of an array.
    func elements() throws -> [JSONValue] {
        guard case .array(let elements) = self else { throw JSONReadError(description: "expected an array") }
        return elements
    }
}
