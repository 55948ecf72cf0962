/// One TCP connection to an etcd member. Lives on the I/O thread only.
final class Connection {
    enum Phase {
        /// A non-blocking connect is under way.
        case connecting
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

    init(descriptor: Int32, endpoint: Int, isDedicatedToStream: Bool) {
        self.descriptor = descriptor
        self.endpoint = endpoint
        self.isDedicatedToStream = isDedicatedToStream
    }

    /// Whether poll should wait for writability (connecting, or request bytes still to send).
    var wantsWrite: Bool {
        switch phase {
        case .connecting: return true
        case .busy: return outboundOffset < outbound.count
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
