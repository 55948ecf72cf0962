import SystemTLS

/// One TCP connection to an etcd member. Lives on the I/O thread only.
final class Connection {
    enum Phase {
        /// A non-blocking connect is under way.
        case connecting
        /// Connected; the TLS handshake is under way.
        case handshaking
        /// Serving its exchange (writing the request, then reading the response).
        case busy
        /// In the keep-alive pool, waiting for the next exchange.
        case idle
        /// Closed; the descriptor is gone.
        case closed
    }

    let descriptor: Int32
    let endpoint: Int
    /// Whether it carries a stream (dedicated, never pooled).
    let isDedicatedToStream: Bool
    var phase = Phase.connecting
    var exchange: Exchange?
    var parser = HTTPResponseParser()
    var inbound: [UInt8] = []
    var outbound: [UInt8] = []
    var outboundOffset = 0
    /// The TLS session, for an `https` member; created once the TCP connection is up.
    var tls: TLSSession?
    /// The direction a blocked TLS call waits for, when it is not the obvious one (a read that
    /// must first write, a handshake step); cleared each time the connection is served.
    var tlsWait: TLSSession.Wait?
    /// Whether any response byte ever arrived on this connection.
    var hasReceivedPlaintext = false

    init(descriptor: Int32, endpoint: Int, isDedicatedToStream: Bool) {
        self.descriptor = descriptor
        self.endpoint = endpoint
        self.isDedicatedToStream = isDedicatedToStream
    }

    /// Whether request bytes remain to be sent.
    var hasOutbound: Bool { outboundOffset < outbound.count }

    /// Whether poll should wait for writability (connecting, TLS asking for it, or request bytes
    /// still to send) rather than readability.
    var wantsWrite: Bool {
        if let tlsWait { return tlsWait == .writable }
        switch phase {
        case .connecting: return true
        case .handshaking: return false
        case .busy: return hasOutbound
        case .idle, .closed: return false
        }
    }

    /// Binds `exchange` to this connection and queues its request bytes.
    func assign(_ exchange: Exchange) {
        self.exchange = exchange
        exchange.connection = self
        outbound = exchange.request.bytes
        outboundOffset = 0
        parser = HTTPResponseParser()
        inbound.removeAll(keepingCapacity: true)
    }
}
