extension EtcdClient.Configuration {
    /// TLS settings for `https` members: whom to trust and, for members that require client
    /// certificates (`--client-cert-auth`), which certificate to present.
    ///
    /// Files are PEM and are read when the client is created; a problem with them (unreadable,
    /// malformed, a key that does not match its certificate) fails ``EtcdClient/init(configuration:)``
    /// with `.tlsFailure`. Connections use TLS 1.2 or later and verify that the member's
    /// certificate names the endpoint's host (a DNS name, or an IP address in its IP SANs).
    public struct TLS: Sendable, Hashable {
        /// A PEM bundle of the CA certificates to trust; `nil` trusts the system's store.
        public var caCertificatePath: String?
        /// The client certificate (PEM, optionally followed by its chain); needs ``privateKeyPath``.
        public var certificatePath: String?
        /// The client certificate's private key (PEM, unencrypted: an encrypted key fails with
        /// `.tlsFailure`; it never prompts for a passphrase).
        public var privateKeyPath: String?

        /// TLS settings; all `nil` trusts the system's CAs and presents no certificate.
        public init(caCertificatePath: String? = nil, certificatePath: String? = nil, privateKeyPath: String? = nil) {
            self.caCertificatePath = caCertificatePath
            self.certificatePath = certificatePath
            self.privateKeyPath = privateKeyPath
        }
    }
}
