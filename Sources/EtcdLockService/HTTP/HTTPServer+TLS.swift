extension HTTPServer {
    /// The files of an HTTPS server (PEM): its certificate and key and, to require client
    /// certificates, the CAs that issue them. TLS 1.2 or later, through the system OpenSSL.
    public struct TLS: Sendable, Hashable {
        /// The server's certificate, optionally followed by its chain.
        public var certificatePath: String
        /// The certificate's private key (unencrypted).
        public var privateKeyPath: String
        /// When set, every client must present a certificate issued by one of these CAs; a
        /// client without one fails the handshake and is never served.
        public var clientCAPath: String?

        /// HTTPS with `certificatePath` and `privateKeyPath`; client certificates are required
        /// when `clientCAPath` is given.
        public init(certificatePath: String, privateKeyPath: String, clientCAPath: String? = nil) {
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
            self.clientCAPath = clientCAPath
        }
    }
}
