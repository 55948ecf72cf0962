/// A key in etcd's key space: any sequence of bytes, most often UTF-8 text.
///
/// Write keys as string literals, interpolation included: `let key: EtcdKey = "jobs/\(id)"`.
public struct EtcdKey: Sendable, Hashable, Comparable, CustomStringConvertible, ExpressibleByStringInterpolation {
    /// The key's bytes.
    public var bytes: [UInt8]

    /// Wraps raw key bytes.
    public init(bytes: [UInt8]) { self.bytes = bytes }

    /// The UTF-8 bytes of `text`.
    public init(_ text: String) { self.bytes = Array(text.utf8) }

    /// The UTF-8 bytes of a literal.
    public init(stringLiteral value: String) { self.init(value) }

    /// Whether the key has no bytes (etcd rejects empty keys).
    public var isEmpty: Bool { bytes.isEmpty }

    /// The key as text (invalid UTF-8 is repaired with U+FFFD).
    public var description: String { String(decoding: bytes, as: UTF8.self) }

    /// This key followed by `suffix`.
    public func appending(_ suffix: String) -> EtcdKey { EtcdKey(bytes: bytes + Array(suffix.utf8)) }

    /// The smallest key greater than every key that starts with this one, or `nil` when every
    /// byte is 0xFF (then the range runs to the end of the key space).
    public var prefixEnd: EtcdKey? {
        var end = bytes
        while let last = end.last {
            if last < 0xFF {
                end[end.count - 1] = last + 1
                return EtcdKey(bytes: end)
            }
            end.removeLast()
        }
        return nil
    }

    public static func < (lhs: EtcdKey, rhs: EtcdKey) -> Bool { lhs.bytes.lexicographicallyPrecedes(rhs.bytes) }

    /// Hashes the bytes in one call (an array of `UInt8` would feed the hasher byte by byte).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(bytes.count)
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }
}
