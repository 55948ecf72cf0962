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
    static let fields: Set<String> = ["ttl_seconds", "wait_seconds", "owner"]
    var ttl_seconds: Int64?
    var wait_seconds: Double?
    var owner: String?
}

/// `:renew`'s and `:release`'s body: the handle the caller got from `:acquire`.
struct HandleBody: Decodable {
    static let fields: Set<String> = ["token", "lease"]
    var token: Int64
    var lease: Int64
}

/// `:force-release`'s body.
struct ForceReleaseBody: Decodable {
    static let fields: Set<String> = ["token"]
    var token: Int64?
}
