import SystemTLS

/// The keep-alive connections of one endpoint and the unary exchanges waiting for one.
/// Lives on the I/O thread only.
final class EndpointPool {
    let address: SocketAddress
    let hostHeader: String
    /// TLS for this member, if its URL is `https`.
    let tls: (context: TLSContext, serverName: String)?
    let maximumConnections: Int
    /// Idle connections, most recently used last.
    var idle: [Connection] = []
    /// Unary connections that exist (connecting, busy or idle).
    var connectionCount = 0
    /// Unary exchanges waiting for a connection, oldest first.
    var waiting: [Exchange] = []
    /// Stream connections open to this endpoint.
    var streamCount = 0
    /// When this endpoint last sent us anything (or a probe of it succeeded).
    var lastHeard = ContinuousClock.now
    /// Whether a liveness probe of this endpoint is in flight.
    var isProbing = false
    private var waitingHead = 0

    init(_ endpoint: TransportEndpoint, maximumConnections: Int) {
        address = endpoint.address
        hostHeader = endpoint.hostHeader
        tls = endpoint.tls
        self.maximumConnections = maximumConnections
    }

    var hasWaiting: Bool { waitingHead < waiting.count }

    func enqueue(_ exchange: Exchange) {
        waiting.append(exchange)
    }

    /// The oldest waiting exchange that is still unfinished, if any.
    func dequeue() -> Exchange? {
        while waitingHead < waiting.count {
            let exchange = waiting[waitingHead]
            waitingHead += 1
            if waitingHead > 64 && waitingHead * 2 > waiting.count {
                waiting.removeFirst(waitingHead)
                waitingHead = 0
            }
            if !exchange.isFinished { return exchange }
        }
        return nil
    }

    /// Waiting exchanges, for deadline checks.
    var waitingExchanges: ArraySlice<Exchange> { waiting[waitingHead...] }
}
