import EtcdLock
import Foundation

/// An answer other than success: an HTTP status and a JSON body
/// `{"error": {"code": CODE, "message": TEXT}, …}` whose `code` is stable (match on it, never on
/// the message).
struct ServiceError: Error, Sendable {
    var status: Int
    /// Stable and bounded: `bad_request`, `unknown_field`, `invalid_name`, `invalid_argument`,
    /// `unauthenticated`, `forbidden`, `permission_denied` (etcd's RBAC refused this replica's
    /// user), `not_found`, `method_not_allowed`, `request_timeout`,
    /// `held`, `not_holder`, `permits_mismatch`, `lost`, `body_too_large`, `headers_too_large`, `too_many_waiters`,
    /// `overloaded`, `etcd_unavailable`, `shutting_down`, `internal`.
    var code: String
    var message: String
    /// More top-level fields (a 409's `holder`).
    var extra: [String: JSONOutput] = [:]
    /// More header fields (a 401's `WWW-Authenticate`, a 405's `Allow`).
    var headers: [(name: String, value: String)] = []

    var response: HTTPResponse {
        var fields = extra
        fields["error"] = .object(["code": .string(code), "message": .string(message)])
        var response = HTTPResponse(status: status, body: JSONOutput.object(fields).bytes)
        response.headers += headers
        return response
    }

    /// 401 with the challenge RFC 6750 asks for: `error="invalid_token"` when a token was sent.
    static func unauthenticated(_ message: String, tokenSent: Bool) -> ServiceError {
        ServiceError(
            status: 401, code: "unauthenticated", message: message,
            headers: [("WWW-Authenticate", tokenSent ? #"Bearer realm="etcdlock", error="invalid_token""# : #"Bearer realm="etcdlock""#)])
    }
}

/// A JSON value to send: int64 values are JSON numbers (exact: written from their digits).
indirect enum JSONOutput: Sendable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    /// A duration as seconds with millisecond precision (`12.345`).
    case seconds(Duration)
    case null
    case array([JSONOutput])
    case object([String: JSONOutput])

    var bytes: [UInt8] { Array(text.utf8) }

    /// The JSON text, keys sorted.
    var text: String {
        switch self {
        case .string(let string): return Self.quoted(string)
        case .int(let value): return String(value)
        case .bool(let value): return value ? "true" : "false"
        case .seconds(let duration): return QueueEntryRecord.secondsText(duration)
        case .null: return "null"
        case .array(let values): return "[" + values.map(\.text).joined(separator: ",") + "]"
        case .object(let fields):
            return "{" + fields.keys.sorted().map { Self.quoted($0) + ":" + fields[$0]!.text }.joined(separator: ",") + "}"
        }
    }

    private static func quoted(_ string: String) -> String {
        var text = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": text += "\\\""
            case "\\": text += "\\\\"
            case "\n": text += "\\n"
            case "\r": text += "\\r"
            case "\t": text += "\\t"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                text += String(format: "\\u%04x", scalar.value)
            default: text.unicodeScalars.append(scalar)
            }
        }
        return text + "\""
    }
}
