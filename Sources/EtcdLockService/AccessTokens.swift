import EtcdLock
import Foundation

/// Who may call the service: bearer tokens, each mapped to a namespace and a role.
///
/// The file (`etcdlock serve --tokens FILE`) has one token per line, `TOKEN NAMESPACE ROLE`,
/// separated by spaces; ROLE is `client` or `admin`; `#` starts a comment. A caller sends
/// `Authorization: Bearer TOKEN`; its locks live in its namespace only.
public struct AccessTokens: Sendable {
    /// What a token grants.
    public struct Grant: Sendable, Hashable {
        /// The namespace the caller's lock names live in.
        public var namespace: String
        /// The caller's role.
        public var role: Role

        /// A grant of `role` in `namespace`.
        public init(namespace: String, role: Role) {
            self.namespace = namespace
            self.role = role
        }
    }

    /// What a caller may do.
    public enum Role: String, Sendable, Hashable {
        /// Acquire, renew, release, inspect and list the locks of its namespace.
        case client
        /// All of that, and force-release.
        case admin
    }

    /// Grants by token.
    public var grants: [String: Grant]

    /// Tokens given directly.
    public init(grants: [String: Grant]) { self.grants = grants }

    /// Parses a tokens file's text.
    ///
    /// - Throws: ``Invalid`` naming the first bad line.
    public init(parsing text: String) throws {
        var grants: [String: Grant] = [:]
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            if fields.isEmpty { continue }
            guard fields.count == 3, let role = Role(rawValue: String(fields[2])), !fields[1].isEmpty else {
                throw Invalid(description: "line \(index + 1): expected TOKEN NAMESPACE client|admin")
            }
            guard grants[String(fields[0])] == nil else {
                throw Invalid(description: "line \(index + 1): the token appears twice")
            }
            // A namespace no lock name could live in is refused now, not on every request.
            do {
                _ = try LockInspection.prefix("probe", namespace: String(fields[1]))
            } catch {
                throw Invalid(description: "line \(index + 1): \(error)")
            }
            grants[String(fields[0])] = Grant(namespace: String(fields[1]), role: role)
        }
        guard !grants.isEmpty else { throw Invalid(description: "the file grants no token") }
        self.grants = grants
    }

    /// A tokens file that cannot be used.
    public struct Invalid: Error, CustomStringConvertible {
        /// What is wrong, and where.
        public var description: String
    }

    /// The grant of the bearer token `presented`, or `nil` when no token is exactly that one.
    ///
    /// Compares in constant time: every token is compared with `presented`, each over all of
    /// `presented`'s bytes without stopping at the first difference, so how long it takes depends
    /// only on `presented`'s length and the number of tokens, never on how much of a token an
    /// attacker has guessed (a dictionary lookup's hashing and early-exit comparison would).
    public func grant(matching presented: String) -> Grant? {
        let presentedBytes = Array(presented.utf8)
        var found: Grant?
        for (token, grant) in grants where Self.isEqualInConstantTime(Array(token.utf8), presentedBytes) {
            found = grant
        }
        return found
    }

    /// Whether `secret` equals `presented`, examining every byte of `presented` whatever differs.
    static func isEqualInConstantTime(_ secret: [UInt8], _ presented: [UInt8]) -> Bool {
        var difference = UInt(bitPattern: secret.count ^ presented.count)
        for index in presented.indices {
            // Wraps over the secret (never reads past it); a length difference is already counted.
            let secretByte = secret.isEmpty ? 0 : secret[index % secret.count]
            difference |= UInt(secretByte ^ presented[index])
        }
        return difference == 0
    }

    /// The grant of the request's bearer token (the scheme's name is case-insensitive, RFC 7235).
    func grant(for authorization: String?) throws(ServiceError) -> Grant {
        let parts = authorization?.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true) ?? []
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw ServiceError.unauthenticated("send Authorization: Bearer TOKEN", tokenSent: false)
        }
        guard let grant = grant(matching: parts[1].trimmingCharacters(in: .whitespaces)) else {
            throw ServiceError.unauthenticated("unknown token", tokenSent: true)
        }
        return grant
    }
}
