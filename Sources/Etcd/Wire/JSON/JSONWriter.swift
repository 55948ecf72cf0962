/// Writes JSON bytes directly: the hot gateway requests (txn, range, put, delete, lease IDs)
/// are written by hand instead of through `JSONEncoder`. Optional fields that are `nil` are
/// left out, as `JSONEncoder` leaves them out.
struct JSONWriter {
    private(set) var bytes: [UInt8] = []
    /// For each open container, whether nothing was written in it yet.
    private var isFirst: [Bool] = []
    /// Whether a field name was just written (its value needs no comma).
    private var afterKey = false

    init() { bytes.reserveCapacity(256) }

    private mutating func separate() {
        if afterKey {
            afterKey = false
            return
        }
        guard let first = isFirst.last else { return }
        if !first { bytes.append(UInt8(ascii: ",")) }
        isFirst[isFirst.count - 1] = false
    }

    mutating func object(_ body: (inout JSONWriter) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "{"))
        isFirst.append(true)
        body(&self)
        isFirst.removeLast()
        bytes.append(UInt8(ascii: "}"))
    }

    mutating func array<Element>(_ elements: [Element], _ write: (inout JSONWriter, Element) -> Void) {
        separate()
        bytes.append(UInt8(ascii: "["))
        isFirst.append(true)
        for element in elements { write(&self, element) }
        isFirst.removeLast()
        bytes.append(UInt8(ascii: "]"))
    }

    /// Writes a field name; the next value written is its value. Names are plain ASCII.
    mutating func key(_ name: StaticString) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        afterKey = true
    }

    /// A string value (escaped as JSON requires).
    mutating func string(_ text: String) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                bytes.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0")])
                bytes.append(hex[Int(byte >> 4)])
                bytes.append(hex[Int(byte & 0xF)])
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Bytes as a base64 string.
    mutating func base64(_ data: [UInt8]) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        Base64.encode(data, into: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// An integer as a string, as the gateway expects 64-bit fields.
    mutating func quoted<Value: FixedWidthInteger>(_ value: Value) {
        separate()
        bytes.append(UInt8(ascii: "\""))
        bytes.append(contentsOf: String(value).utf8)
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func boolean(_ value: Bool) {
        separate()
        bytes.append(contentsOf: value ? Array("true".utf8) : Array("false".utf8))
    }

    // Fields, each left out when `nil`.

    mutating func field(_ name: StaticString, _ value: String?) {
        guard let value else { return }
        key(name)
        string(value)
    }

    mutating func field(_ name: StaticString, _ value: WireBytes?) {
        guard let value else { return }
        key(name)
        base64(value.bytes)
    }

    mutating func field<Value>(_ name: StaticString, _ value: WireInteger<Value>?) {
        guard let value else { return }
        key(name)
        quoted(value.value)
    }

    mutating func field(_ name: StaticString, _ value: Bool?) {
        guard let value else { return }
        key(name)
        boolean(value)
    }
}

/// A wire request written by ``JSONWriter`` instead of `JSONEncoder`.
protocol JSONWritable {
    func write(to writer: inout JSONWriter)
}

/// A wire answer read from ``JSONValue`` instead of `JSONDecoder`.
protocol JSONReadable {
    init(json: JSONValue) throws
}

extension JSONValue {
    /// `nil` for JSON `null`, so that null fields read as absent.
    var present: JSONValue? {
        if case .null = self { return nil }
        return self
    }
}
