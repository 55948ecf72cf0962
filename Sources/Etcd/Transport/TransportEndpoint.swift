import SystemTLS

/// What the transport needs to reach one member: where, the `Host` header, and TLS if its URL
/// is `https`.
struct TransportEndpoint: Sendable {
    /// The resolved address.
    let address: SocketAddress
    /// The `Host` header value.
    let hostHeader: String
    /// The TLS context and the name the member's certificate must carry; `nil` for plain HTTP.
    let tls: (context: TLSContext, serverName: String)?
}
