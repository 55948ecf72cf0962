import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A configured OpenSSL context (`SSL_CTX`): trust, own certificate, TLS 1.2 or later.
///
/// Built once and never changed afterwards; connections get a ``TLSSession`` each from it.
public final class TLSContext: @unchecked Sendable {
    // @unchecked Sendable: the SSL_CTX is fully configured in init and only read afterwards;
    // OpenSSL documents SSL_new on a shared, unchanging SSL_CTX as safe from any thread.
    private let context: OpaquePointer
    /// Whether this context verifies a server (client side) rather than serving.
    let isClient: Bool

    /// A client context: trusts the CA certificates of `caCertificatePath` (PEM) or, when `nil`,
    /// the system's store; presents the certificate and key of `certificatePath` and
    /// `privateKeyPath` (PEM) when given. Files are read and the key checked against the
    /// certificate here, once.
    ///
    /// - Throws: ``TLSFailure`` for an unreadable or malformed file, a key that does not match
    ///   the certificate, or only one of certificate and key.
    public init(clientTrusting caCertificatePath: String?, certificatePath: String?, privateKeyPath: String?) throws(TLSFailure) {
        context = try Self.makeContext(method: TLS_client_method())
        isClient = true
        SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        if let caCertificatePath {
            try Self.checkReadable(caCertificatePath, "CA certificate")
            guard SSL_CTX_load_verify_locations(context, caCertificatePath, nil) == 1 else {
                throw TLSFailure.fromErrorQueue("cannot load the CA certificates of \(caCertificatePath)")
            }
        } else if SSL_CTX_set_default_verify_paths(context) != 1 {
            throw TLSFailure.fromErrorQueue("cannot load the system's trusted certificates")
        }
        switch (certificatePath, privateKeyPath) {
        case (nil, nil): break
        case (let certificate?, let key?): try useIdentity(certificate: certificate, key: key)
        case (_?, nil): throw TLSFailure("a client certificate needs its private key too")
        case (nil, _?): throw TLSFailure("a private key needs its client certificate too")
        }
    }

    /// A server context: presents `certificatePath` (PEM, the chain after the leaf) with
    /// `privateKeyPath`; when `clientCAPath` is given, requires every client to present a
    /// certificate issued by one of its CAs.
    ///
    /// - Throws: ``TLSFailure`` as ``init(clientTrusting:certificatePath:privateKeyPath:)``.
    public init(serving certificatePath: String, privateKeyPath: String, clientCAPath: String?) throws(TLSFailure) {
        context = try Self.makeContext(method: TLS_server_method())
        isClient = false
        try useIdentity(certificate: certificatePath, key: privateKeyPath)
        if let clientCAPath {
            try Self.checkReadable(clientCAPath, "client CA certificate")
            guard SSL_CTX_load_verify_locations(context, clientCAPath, nil) == 1,
                let names = SSL_load_client_CA_file(clientCAPath)
            else {
                throw TLSFailure.fromErrorQueue("cannot load the client CA certificates of \(clientCAPath)")
            }
            SSL_CTX_set_client_CA_list(context, names)
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
    }

    deinit {
        SSL_CTX_free(context)
    }

    /// A session for the connected socket `descriptor`. A client session verifies that the
    /// server's certificate names `serverName` (a DNS name, or an IP address matched against the
    /// certificate's IP SANs).
    ///
    /// - Throws: ``TLSFailure`` when OpenSSL cannot create the session.
    public func makeSession(descriptor: Int32, serverName: String?) throws(TLSFailure) -> TLSSession {
        ERR_clear_error()
        guard let session = SSL_new(context) else { throw TLSFailure.fromErrorQueue("cannot create a TLS session") }
        guard SSL_set_fd(session, descriptor) == 1 else {
            SSL_free(session)
            throw TLSFailure.fromErrorQueue("cannot attach the TLS session to its socket")
        }
        if isClient, let serverName {
            let named: Bool
            if Self.isIPAddress(serverName) {
                named = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(session), serverName) == 1
            } else {
                named = SSL_set1_host(session, serverName) == 1
                    && etcdlock_ssl_set_server_name(session, serverName) == 1
            }
            guard named else {
                SSL_free(session)
                throw TLSFailure.fromErrorQueue("cannot set the expected server name \(serverName)")
            }
        }
        if isClient { SSL_set_connect_state(session) } else { SSL_set_accept_state(session) }
        return TLSSession(session)
    }

    private static func makeContext(method: OpaquePointer?) throws(TLSFailure) -> OpaquePointer {
        ERR_clear_error()
        guard let method, let context = SSL_CTX_new(method) else {
            throw TLSFailure.fromErrorQueue("cannot create an OpenSSL context")
        }
        guard etcdlock_ssl_ctx_set_min_proto_version(context, TLS1_2_VERSION) == 1 else {
            SSL_CTX_free(context)
            throw TLSFailure.fromErrorQueue("cannot require TLS 1.2")
        }
        etcdlock_ssl_ctx_set_default_options(context)
        // An encrypted key must fail to load, not make OpenSSL prompt on the terminal.
        SSL_CTX_set_default_passwd_cb(context) { _, _, _, _ in 0 }
        // Writes resume from wherever the caller's buffer now lives, and may be partial, as with
        // a plain non-blocking socket.
        _ = etcdlock_ssl_ctx_set_mode(
            context, Int(SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER))
        return context
    }

    private func useIdentity(certificate: String, key: String) throws(TLSFailure) {
        try Self.checkReadable(certificate, "certificate")
        try Self.checkReadable(key, "private key")
        guard SSL_CTX_use_certificate_chain_file(context, certificate) == 1 else {
            throw TLSFailure.fromErrorQueue("cannot load the certificate \(certificate)")
        }
        guard SSL_CTX_use_PrivateKey_file(context, key, SSL_FILETYPE_PEM) == 1 else {
            throw TLSFailure.fromErrorQueue("cannot load the private key \(key)")
        }
        guard SSL_CTX_check_private_key(context) == 1 else {
            throw TLSFailure.fromErrorQueue("the private key \(key) does not match the certificate \(certificate)")
        }
    }

    private static func checkReadable(_ path: String, _ what: String) throws(TLSFailure) {
        guard let file = fopen(path, "r") else {
            throw TLSFailure("cannot read the \(what) \(path): \(String(cString: strerror(errno)))")
        }
        fclose(file)
    }

    private static func isIPAddress(_ text: String) -> Bool {
        var scratch = [UInt8](repeating: 0, count: 16)
        return inet_pton(AF_INET, text, &scratch) == 1 || inet_pton(AF_INET6, text, &scratch) == 1
    }
}
