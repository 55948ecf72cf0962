import Etcd
import EtcdLock

/// Strict decoding of request bodies: a JSON object (RFC 8259 to the letter), only the fields a
/// route knows, each once and of its type (an integer is not a string, `10.5` is not an integer).
///
/// Read with the etcd client's own JSON parser in one pass: Foundation's two (a parse to check
/// the fields, a `JSONDecoder` to type them) cost more than the rest of a request.
enum RequestBody {
    /// The fields of `body`, refusing anything but an object whose fields are among `allowed`,
    /// each given once. An empty body counts as `{}`.
    static func fields(of body: [UInt8], allowed: Set<String>) throws(ServiceError) -> Fields {
        let parsed: JSONValue
        do {
            parsed = body.isEmpty ? .object([]) : try JSONParser.parse(body, strict: true)
        } catch {
            throw ServiceError(status: 400, code: "bad_request", message: "the body is not valid JSON")
        }
        guard case .object(let members) = parsed else {
            throw ServiceError(status: 400, code: "bad_request", message: "the body must be a JSON object")
        }
        var values: [String: JSONValue] = [:]
        for member in members {
            // Valid UTF-8: the strict parse checked every string.
            let name = String(decoding: member.key, as: UTF8.self)
            // A body that says two things about one field is refused: two parsers may disagree
            // about which one counts.
            guard values.updateValue(member.value, forKey: name) == nil else {
                throw ServiceError(status: 400, code: "invalid_argument", message: "field \"\(name)\" appears more than once")
            }
        }
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ServiceError(status: 400, code: "unknown_field", message: "unknown field \"\(unknown)\"")
        }
        return Fields(values: values)
    }

    /// A body's fields, read by type; `null` reads as absent.
    struct Fields {
        let values: [String: JSONValue]

        /// An integer field: a JSON number without fraction or exponent, within 64 bits.
        func integer(_ name: String) throws(ServiceError) -> Int64? {
            guard let value = present(name) else { return nil }
            guard case .number(let text) = value, !text.contains(where: { $0 == UInt8(ascii: ".") || $0 | 0x20 == UInt8(ascii: "e") })
            else { throw Self.wrongType(name) }
            guard let integer = Int64(String(decoding: text, as: UTF8.self)) else {
                throw ServiceError(status: 400, code: "bad_request", message: "field \"\(name)\" is out of range")
            }
            return integer
        }

        /// An integer field that must be there.
        func requiredInteger(_ name: String) throws(ServiceError) -> Int64 {
            guard let value = try integer(name) else {
                throw ServiceError(status: 400, code: "bad_request", message: "field \"\(name)\" is missing")
            }
            return value
        }

        /// A number field, whole or not.
        func number(_ name: String) throws(ServiceError) -> Double? {
            guard let value = present(name) else { return nil }
            guard case .number(let text) = value, let number = Double(String(decoding: text, as: UTF8.self)) else {
                throw Self.wrongType(name)
            }
            return number
        }

        /// A string field.
        func text(_ name: String) throws(ServiceError) -> String? {
            guard let value = present(name) else { return nil }
            guard case .string(let bytes) = value else { throw Self.wrongType(name) }
            return String(decoding: bytes, as: UTF8.self)
        }

        private func present(_ name: String) -> JSONValue? {
            guard let value = values[name] else { return nil }
            if case .null = value { return nil }
            return value
        }

        private static func wrongType(_ name: String) -> ServiceError {
            ServiceError(status: 400, code: "bad_request", message: "field \"\(name)\" has the wrong type")
        }
    }
}

/// `:acquire`'s body.
struct AcquireBody {
    var ttl_seconds: Int64?
    var wait_seconds: Double?
    var owner: String?
    var mode: String?
    var permits: Int64?

    init(_ body: [UInt8]) throws(ServiceError) {
        let fields = try RequestBody.fields(of: body, allowed: ["ttl_seconds", "wait_seconds", "owner", "mode", "permits"])
        ttl_seconds = try fields.integer("ttl_seconds")
        wait_seconds = try fields.number("wait_seconds")
        owner = try fields.text("owner")
        mode = try fields.text("mode")
        permits = try fields.integer("permits")
    }
}

/// `:renew`'s and `:release`'s body: the handle the caller got from `:acquire` (with the same
/// `mode` or `permits`, when it acquired anything but the mutex).
struct HandleBody {
    var token: Int64
    var lease: Int64
    var mode: String?
    var permits: Int64?

    init(_ body: [UInt8]) throws(ServiceError) {
        let fields = try RequestBody.fields(of: body, allowed: ["token", "lease", "mode", "permits"])
        token = try fields.requiredInteger("token")
        lease = try fields.requiredInteger("lease")
        mode = try fields.text("mode")
        permits = try fields.integer("permits")
    }
}

extension LockHandle.Mode {
    /// The hold a body asks for: `mode` `exclusive` (the default), `read` or `write`; or
    /// `permits` N alone, a permit of the semaphore of N.
    static func parsing(mode: String?, permits: Int64?) throws(ServiceError) -> LockHandle.Mode {
        if let permits {
            guard mode == nil else {
                throw ServiceError(
                    status: 400, code: "invalid_argument", message: "permits asks for a semaphore's permit: send it without mode")
            }
            guard permits >= 1, permits <= Int64(EtcdSemaphore.maximumPermits) else {
                throw ServiceError(status: 400, code: "invalid_argument", message: "permits must be from 1 to \(EtcdSemaphore.maximumPermits)")
            }
            return .permit(of: Int(permits))
        }
        switch mode {
        case nil, "exclusive": return .exclusive
        case "read": return .read
        case "write": return .write
        default: throw ServiceError(status: 400, code: "invalid_argument", message: "mode must be exclusive, read or write")
        }
    }

    /// The answer's fields naming the hold: `mode` (`exclusive`, `read`, `write`, `permit`) and a
    /// semaphore's `permits`.
    var fields: [String: JSONOutput] {
        guard case .permit(let permits) = self else { return ["mode": .string(lockMode.rawValue)] }
        return ["mode": .string(lockMode.rawValue), "permits": .int(Int64(permits))]
    }
}

/// `:force-release`'s body.
struct ForceReleaseBody {
    var token: Int64?
    /// `lock` (the default), `rwlock` or `semaphore`.
    var kind: String?

    init(_ body: [UInt8]) throws(ServiceError) {
        let fields = try RequestBody.fields(of: body, allowed: ["token", "kind"])
        token = try fields.integer("token")
        kind = try fields.text("kind")
    }
}
