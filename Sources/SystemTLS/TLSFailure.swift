import COpenSSL

/// Why TLS could not be set up or a TLS connection failed, in OpenSSL's words.
public struct TLSFailure: Error, Sendable, CustomStringConvertible {
    /// OpenSSL's reason (or the file problem), for humans; never match on it.
    public var reason: String

    /// A failure for `reason`.
    public init(_ reason: String) {
        self.reason = reason
    }

    public var description: String { reason }

    /// A failure saying `what` went wrong, followed by the reasons on this thread's OpenSSL error
    /// queue (which this empties) and, when given, the certificate verification result.
    static func fromErrorQueue(_ what: String, verifyResult: Int = Int(X509_V_OK)) -> TLSFailure {
        var reasons: [String] = []
        if verifyResult != Int(X509_V_OK), let text = X509_verify_cert_error_string(verifyResult) {
            reasons.append("certificate verify failed: \(String(cString: text))")
        }
        while case let code = ERR_get_error(), code != 0 {
            var buffer = [CChar](repeating: 0, count: 256)
            ERR_error_string_n(code, &buffer, buffer.count)
            let text = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !reasons.contains(text) { reasons.append(text) }
        }
        return TLSFailure(reasons.isEmpty ? what : "\(what): \(reasons.joined(separator: "; "))")
    }
}
