import Etcd

/// Turns user-given names into key segments: validated, and escaped so that no two names map to
/// the same key and no name can reach outside its prefix.
enum LockName {
    /// The longest name accepted, in UTF-8 bytes (keys stay far below etcd's request limit).
    static let maximumBytes = 512

    /// The escaped key segment for `name` (which must be valid: see ``validate(_:kind:)``).
    ///
    /// Bytes outside `A-Z a-z 0-9 - _ .` are percent-encoded, `%` included, so the mapping is
    /// injective and the result never contains `/`.
    static func segment(_ name: String, kind: String) throws -> String {
        // The common case, checked byte by byte: a name of unescaped bytes only is valid and is
        // its own segment (every request of the lock service names a lock).
        if !name.isEmpty, name.utf8.count <= maximumBytes, name.utf8.allSatisfy(isUnescaped) { return name }
        try validate(name, kind: kind)
        var escaped = ""
        for byte in name.utf8 {
            if isUnescaped(byte) {
                escaped.unicodeScalars.append(Unicode.Scalar(byte))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                escaped += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return escaped
    }

    /// Whether `byte` stands for itself in a segment: `A-Z a-z 0-9 - _ .`.
    private static func isUnescaped(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."):
            true
        default: false
        }
    }

    /// Rejects empty, oversized, and control-character names, and names holding U+FFFD.
    ///
    /// U+FFFD is what invalid UTF-8 becomes when decoded into a `String` (a command-line argument,
    /// a file name): two different byte strings would then name one lock. Callers with raw
    /// bytes must validate them as UTF-8 themselves.
    static func validate(_ name: String, kind: String) throws {
        if name.isEmpty { throw LockError(code: .invalidName, message: "the \(kind) name is empty") }
        if name.utf8.count > maximumBytes {
            throw LockError(
                code: .invalidName,
                message: "the \(kind) name is \(name.utf8.count) bytes long; at most \(maximumBytes) are allowed")
        }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            throw LockError(code: .invalidName, message: "the \(kind) name contains control characters")
        }
        if name.unicodeScalars.contains("\u{FFFD}") {
            throw LockError(
                code: .invalidName,
                message: "the \(kind) name contains U+FFFD, the mark of bytes that were not valid UTF-8")
        }
    }

    /// The key prefix of the queue for `name` of `kind` in `namespace`:
    /// `/etcdlock/<namespace>/<kind>/<name>/`.
    static func prefix(namespace: String, kind: String, name: String) throws -> EtcdKey {
        let space = try segment(namespace, kind: "namespace")
        return EtcdKey("/etcdlock/\(space)/\(kind)/\(try segment(name, kind: kind))/")
    }

    /// The prefix under which every lock of `kind` in `namespace` queues:
    /// `/etcdlock/<namespace>/<kind>/`.
    static func kindPrefix(namespace: String, kind: String) throws -> EtcdKey {
        EtcdKey("/etcdlock/\(try segment(namespace, kind: "namespace"))/\(kind)/")
    }

    /// The name a key segment stands for (the inverse of ``segment(_:kind:)``), or `nil` when the
    /// segment is not one this type produced.
    static func name(ofSegment segment: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = segment.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next(), let low = iterator.next(),
                let value = UInt8(String(decoding: [high, low], as: UTF8.self), radix: 16)
            else { return nil }
            bytes.append(value)
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
