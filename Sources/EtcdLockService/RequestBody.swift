import EtcdLock
import Foundation

/// Strict decoding of request bodies: a JSON object, only the fields a route knows, each of its
/// type (an integer is not a string, `10.5` is not an integer).
enum RequestBody {
    /// Decodes `body` as `T`, refusing anything but an object with fields among `allowed`.
    /// An empty body counts as `{}`.
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8], allowed: Set<String>) throws(ServiceError) -> T {
        let data = body.isEmpty ? Data("{}".utf8) : Data(body)
        let object: Any
        do {
            object = try JSONSerialization.jsonObject(with: data, options: [])
        } catch {
            throw ServiceError(status: 400, code: "bad_request", message: "the body is not valid JSON")
        }
        guard let fields = object as? [String: Any] else {
            throw ServiceError(status: 400, code: "bad_request", message: "the body must be a JSON object")
        }
        // JSONSerialization keeps the last of duplicate keys silently; a body that says two things
        // about one field is refused instead.
        if let duplicate = JSONDuplicateKeys.first(in: body) {
            throw ServiceError(status: 400, code: "invalid_argument", message: "field \"\(duplicate)\" appears more than once")
        }
        if let unknown = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw ServiceError(status: 400, code: "unknown_field", message: "unknown field \"\(unknown)\"")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            let field = context.codingPath.first?.stringValue ?? "body"
            throw ServiceError(status: 400, code: "bad_request", message: "field \"\(field)\" has the wrong type")
        } catch let DecodingError.keyNotFound(key, _) {
            throw ServiceError(status: 400, code: "bad_request", message: "field \"\(key.stringValue)\" is missing")
        } catch let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.first?.stringValue ?? "body"
            throw ServiceError(status: 400, code: "bad_request", message: "field \"\(field)\" is out of range")
        } catch {
            throw ServiceError(status: 400, code: "bad_request", message: "the body could not be decoded")
        }
    }
}

/// `:acquire`'s body.
struct AcquireBody: Decodable {
    static let fields: Set<String> = ["ttl_seconds", "wait_seconds", "owner", "mode", "permits"]
    var ttl_seconds: Int64?
    var wait_seconds: Double?
    var owner: String?
    var mode: String?
    var permits: Int64?
}

/// `:renew`'s and `:release`'s body: the handle the caller got from `:acquire` (with the same
/// `mode` or `permits`, when it acquired anything but the mutex).
struct HandleBody: Decodable {
    static let fields: Set<String> = ["token", "lease", "mode", "permits"]
    var token: Int64
    var lease: Int64
    var mode: String?
    var permits: Int64?
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
struct ForceReleaseBody: Decodable {
    static let fields: Set<String> = ["token", "kind"]
    var token: Int64?
    /// `lock` (the default), `rwlock` or `semaphore`.
    var kind: String?
}
