import Foundation
import HTTPCore

/// One etcd member's client URL, parsed.
struct Endpoint: Sendable, Hashable, CustomStringConvertible {
    /// Host name or IP address (IPv6 without brackets).
    var host: String
    /// TCP port.
    var port: Int
    /// Whether the URL is `https`: the member is reached over TLS.
    var isSecure = false

    /// The `Host` header value.
    var hostHeader: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    var description: String { (isSecure ? "https://" : "http://") + hostHeader }

    /// Parses `http://host:port`, `https://host:port`, `host:port` or `http://[::1]:port`.
    /// Without a scheme, the URL is `https` when `secureByDefault`.
    ///
    /// - Throws: ``EtcdError`` `.invalidEndpoint` for anything else.
    static func parse(_ text: String, secureByDefault: Bool = false) throws -> Endpoint {
        func invalid(_ why: String) -> EtcdError {
            EtcdError(code: .invalidEndpoint, message: "invalid endpoint \"\(text)\": \(why)")
        }
        var rest = Substring(HTTPSyntax.trimmingSpaces(text))
        if rest.isEmpty { throw invalid("it is empty") }
        var isSecure = secureByDefault
        if let schemeEnd = rest.range(of: "://") {
            let scheme = rest[..<schemeEnd.lowerBound].lowercased()
            guard scheme == "http" || scheme == "https" else { throw invalid("the scheme must be http or https") }
            isSecure = scheme == "https"
            rest = rest[schemeEnd.upperBound...]
        }
        if let slash = rest.firstIndex(of: "/") {
            guard rest[slash...] == "/" else { throw invalid("a path is not allowed") }
            rest = rest[..<slash]
        }
        let host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw invalid("unclosed [") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw invalid("expected :port after ]") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw invalid("the host is empty") }
        guard host.allSatisfy({ $0.isLetter || $0.isNumber || ".-_:%".contains($0) }) else {
            throw invalid("the host has characters a host name cannot have")
        }
        var port = 2379
        if let portText {
            guard let parsed = Int(portText), (1...65535).contains(parsed) else {
                throw invalid("the port must be a number from 1 to 65535")
            }
            port = parsed
        }
        return Endpoint(host: String(host), port: port, isSecure: isSecure)
    }
}
