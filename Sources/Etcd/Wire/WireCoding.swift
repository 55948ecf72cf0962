import Foundation

// Wire types mirror etcd's gateway JSON field for field (snake_case included, as the gateway
// spells them), stay internal, and convert to public models in one place each.

/// An integer the gateway sends as a JSON string ("123"): int64 fields, and uint64 cluster and
/// member IDs. Accepts a JSON number too; encodes as a string.
struct WireInteger<Value: FixedWidthInteger & LosslessStringConvertible & Codable & Sendable>: Codable, Hashable {
    var value: Value

    init(_ value: Value) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let parsed = Value(text) else {
                throw DecodingError.dataCorruptedError(
                    in: container, debugDescription: "not a \(Value.self): \(text.prefix(40))")
            }
            value = parsed
        } else {
            value = try container.decode(Value.self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

/// An int64 field (revision, lease, TTL, count …).
typealias WireInt64 = WireInteger<Int64>
/// A uint64 field (cluster and member IDs).
typealias WireUInt64 = WireInteger<UInt64>

/// Bytes the gateway sends as base64 (keys, values, range ends).
struct WireBytes: Codable, Hashable {
    var bytes: [UInt8]

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let data = Data(base64Encoded: text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "invalid base64")
        }
        bytes = Array(data)
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(Data(bytes).base64EncodedString())
    }
}

/// What ``WireInteger`` is, for extending optionals of any of its types.
protocol WireIntegerField {
    associatedtype Value: FixedWidthInteger
    var value: Value { get }
}

extension WireInteger: WireIntegerField {}

extension Optional where Wrapped: WireIntegerField {
    /// The value, or 0 when the gateway omitted the field (it omits zero values).
    var orZero: Wrapped.Value { self?.value ?? 0 }
}

extension Optional where Wrapped == WireBytes {
    /// The bytes, or none when the gateway omitted the field.
    var orEmpty: [UInt8] { self?.bytes ?? [] }
}

/// JSON coding of wire types.
///
/// The hot types (``JSONWritable`` and ``JSONReadable``) are written and read by hand; the
/// rest go through Foundation's coders.
enum WireCoding {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        if let writable = value as? any JSONWritable {
            var writer = JSONWriter()
            writable.write(to: &writer)
            return writer.bytes
        }
        return Array(try JSONEncoder().encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        if let readable = type as? any JSONReadable.Type {
            // The conformance is on T itself, so the cast back cannot fail.
            return try readable.init(json: JSONParser.parse(bytes)) as! T
        }
        return try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Decodes a response, turning any decoding failure into ``EtcdError/Code/invalidResponse``.
    static func decodeResponse<T: Decodable>(_ type: T.Type, from bytes: [UInt8], path: String) throws -> T {
        do {
            return try decode(type, from: bytes)
        } catch {
            let sample = String(decoding: bytes.prefix(200), as: UTF8.self)
            throw EtcdError(
                code: .invalidResponse, message: "cannot decode the answer to \(path): \(error); body: \(sample)",
                underlying: error)
        }
    }
}
