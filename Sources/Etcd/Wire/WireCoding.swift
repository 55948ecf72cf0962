import Foundation

// Wire types mirror etcd's gateway JSON field for field (snake_case included, as the gateway
// spells them), stay internal, and convert to public models in one place each.

/// An int64 the gateway sends as a JSON string ("123"); accepts a number too. Encodes as a string.
struct WireInt64: Codable, Hashable {
    var value: Int64

    init(_ value: Int64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let parsed = Int64(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not an int64: \(text.prefix(40))")
            }
            value = parsed
        } else {
            value = try container.decode(Int64.self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

/// A uint64 the gateway sends as a JSON string (cluster and member IDs).
struct WireUInt64: Codable, Hashable {
    var value: UInt64

    init(_ value: UInt64) { self.value = value }

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let text = try? container.decode(String.self) {
            guard let parsed = UInt64(text) else {
                throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a uint64: \(text.prefix(40))")
            }
            value = parsed
        } else {
            value = try container.decode(UInt64.self)
        }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(String(value))
    }
}

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

extension Optional where Wrapped == WireInt64 {
    /// The value, or 0 when the gateway omitted the field (it omits zero values).
    var orZero: Int64 { self?.value ?? 0 }
}

extension Optional where Wrapped == WireUInt64 {
    /// The value, or 0 when the gateway omitted the field.
    var orZero: UInt64 { self?.value ?? 0 }
}

extension Optional where Wrapped == WireBytes {
    /// The bytes, or none when the gateway omitted the field.
    var orEmpty: [UInt8] { self?.bytes ?? [] }
}

/// JSON coding of wire types.
enum WireCoding {
    static func encode(_ value: some Encodable) throws -> [UInt8] {
        Array(try JSONEncoder().encode(value))
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        try JSONDecoder().decode(type, from: Data(bytes))
    }

    /// Decodes a response, turning any decoding failure into ``EtcdError/Code/invalidResponse``.
    static func decodeResponse<T: Decodable>(_ type: T.Type, from bytes: [UInt8], path: String) throws -> T {
        do {
            return try decode(type, from: bytes)
        } catch {
            let sample = String(decoding: bytes.prefix(200), as: UTF8.self)
            throw EtcdError(
                code: .invalidResponse, message: "cannot decode the answer to \(path): \(error); body: \(sample)",
                underlying: error as? DecodingError)
        }
    }
}
