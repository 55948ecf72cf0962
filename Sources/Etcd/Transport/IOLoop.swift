import Foundation
import HTTPCore
import Synchronization
import SystemTLS

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One thread that owns every socket of a client and drives them with `poll()`.
///
/// Callers hand exchanges over through a locked inbox and a wake-up pipe; results go back
/// through continuations, so no Swift concurrency thread ever blocks on a socket.
///
/// Unary requests share a bounded keep-alive pool per endpoint; each stream gets a
/// connection of its own, closed to cancel it.
final class IOLoop: @unchecked Sendable {
    // @unchecked Sendable: the inbox (behind its Mutex), the atomic ID counter and the immutable
    // `wakePipe`, `hostHeaders` are the only members touched off the loop thread. Every
    // other stored property is read and written only by `run()`, on the loop thread.

    private enum Command: Sendable {
        case start(ExchangeRequest)
        case cancel(UInt64)
    }

    private struct Inbox {
        var commands: [Command] = []
        var isWakePending = false
        var isShutDown = false
        var hasExited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let inbox = Mutex(Inbox())
    private let nextExchangeID = Atomic<UInt64>(1)
    private let wakePipe: WakePipe
    /// The `Host` header for each endpoint.
    let hostHeaders: [String]

    /// How often silent streams' members are probed, and how long a probe may take.
    let liveness: LivenessCheck?

    // Loop-thread state (internal only for IOLoop+Deadlines.swift).
    let pools: [EndpointPool]
    private var connections: [Int32: Connection] = [:]
    var exchanges: [UInt64: Exchange] = [:]
    private var readBuffer = [UInt8](repeating: 0, count: 64 * 1024)

    /// Creates the loop and starts its thread.
    ///
    /// - Parameters:
    ///   - endpoints: the resolved address and `Host` header of each endpoint, by index.
    ///   - maximumConnectionsPerEndpoint: the size of each keep-alive pool for unary requests.
    init(
        endpoints: [TransportEndpoint], maximumConnectionsPerEndpoint: Int,
        liveness: LivenessCheck?
    ) throws {
        self.liveness = liveness
        guard let wakePipe = WakePipe() else {
            throw TransportError(
                kind: .connectFailed, requestMayHaveBeenSent: false,
                detail: "cannot create the wake-up pipe: \(POSIX.describe(POSIX.lastError))")
        }
        self.wakePipe = wakePipe
        hostHeaders = endpoints.map(\.hostHeader)
        pools = endpoints.map { EndpointPool($0, maximumConnections: maximumConnectionsPerEndpoint) }
        let thread = Thread { [self] in self.run() }
        thread.name = "etcd-io"
        thread.start()
    }

    deinit {
        // Closed here, not when the thread exits: until the last reference is gone another thread
        // may still be about to write its wake-up byte, and a closed number can be reused.
        wakePipe.close()
    }

    /// A new exchange ID, unique for this loop.
    func makeExchangeID() -> UInt64 {
        nextExchangeID.add(1, ordering: .relaxed).oldValue
    }

    /// Hands an exchange to the loop. After shutdown it fails at once.
    func submit(_ request: ExchangeRequest) {
        let accepted = enqueue(.start(request))
        if !accepted {
            Exchange(request).fail(
                TransportError(kind: .shutDown, requestMayHaveBeenSent: false, detail: "the client was shut down"))
        }
    }

    /// Cancels an exchange: a unary call fails with `.cancelled`, a stream finishes.
    func cancel(_ id: UInt64) {
        _ = enqueue(.cancel(id))
    }

    /// Stops the loop: every exchange fails with `.shutDown` and every socket closes.
    /// Returns once the thread has finished.
    func shutdown() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let (alreadyExited, mustWake) = inbox.withLock { inbox -> (Bool, Bool) in
                if inbox.hasExited { return (true, false) }
                inbox.exitWaiters.append(continuation)
                let mustWake = !inbox.isShutDown
                inbox.isShutDown = true
                return (false, mustWake)
            }
            if alreadyExited { continuation.resume() }
            if mustWake { wake() }
        }
    }

    /// Asks the loop to stop without waiting (for `deinit` paths).
    func requestShutdown() {
        let mustWake = inbox.withLock { inbox -> Bool in
            defer { inbox.isShutDown = true }
            return !inbox.isShutDown
        }
        if mustWake { wake() }
    }

    private func enqueue(_ command: Command) -> Bool {
        let (accepted, mustWake) = inbox.withLock { inbox -> (Bool, Bool) in
            if inbox.isShutDown { return (false, false) }
            inbox.commands.append(command)
            defer { inbox.isWakePending = true }
            return (true, !inbox.isWakePending)
        }
        if mustWake { wake() }
        return accepted
    }

    private func wake() { wakePipe.signal() }

    // MARK: - The loop thread

    private func run() {
        TLSSession.blockBrokenPipeSignalOnThisThread()
        var pollDescriptors: [pollfd] = []
        var polled: [Connection] = []
        while let commands = takeCommands() {
            for command in commands { execute(command) }
            pollDescriptors.removeAll(keepingCapacity: true)
            polled.removeAll(keepingCapacity: true)
            pollDescriptors.append(pollfd(fd: wakePipe.readDescriptor, events: Int16(POLLIN), revents: 0))
            var hasBufferedInput = false
            for connection in connections.values {
                let events = connection.wantsWrite ? Int16(POLLOUT) : Int16(POLLIN)
                pollDescriptors.append(pollfd(fd: connection.descriptor, events: events, revents: 0))
                polled.append(connection)
                hasBufferedInput = hasBufferedInput || connection.hasBufferedInput
            }
            // Decrypted bytes already inside a TLS session never make its socket readable.
            let timeout = hasBufferedInput ? 0 : millisecondsUntilNextDeadline()
            let ready = poll(&pollDescriptors, nfds_t(pollDescriptors.count), timeout)
            if ready >= 0 {
                if pollDescriptors[0].revents != 0 { wakePipe.drain() }
                for index in 1..<pollDescriptors.count {
                    let connection = polled[index - 1]
                    guard pollDescriptors[index].revents != 0 || connection.hasBufferedInput else { continue }
                    if connection.phase != .closed { handle(connection) }
                }
            }
            expireDeadlines()
        }
        tearDown()
    }

    /// The commands queued since the last call, or `nil` once shutdown was requested.
    private func takeCommands() -> [Command]? {
        inbox.withLock { inbox -> [Command]? in
            if inbox.isShutDown { return nil }
            inbox.isWakePending = false
            defer { inbox.commands.removeAll(keepingCapacity: true) }
            return inbox.commands
        }
    }

    private func execute(_ command: Command) {
        switch command {
        case .start(let request):
            let exchange = Exchange(request)
            if request.cancellation.isRaised {
                exchange.fail(exchange.error(.cancelled, "cancelled before it was sent"))
                return
            }
            exchanges[request.id] = exchange
            if exchange.isStream {
                openConnection(to: request.endpoint, for: exchange, dedicated: true)
            } else {
                startUnary(exchange)
            }
        case .cancel(let id):
            if let exchange = exchanges[id] {
                finish(exchange, with: exchange.error(.cancelled, "cancelled by the caller"))
            }
        }
    }

    func startUnary(_ exchange: Exchange) {
        let pool = pools[exchange.request.endpoint]
        while let connection = pool.idle.popLast() {
            if POSIX.isIdleSocketUsable(connection.descriptor) {
                connection.phase = .busy
                connection.assign(exchange)
                writeOutbound(connection)
                return
            }
            // The member closed it while it idled; it never saw this request.
            connection.exchange = nil
            close(connection, serveWaiting: false)
        }
        if pool.connectionCount < pool.maximumConnections {
            openConnection(to: exchange.request.endpoint, for: exchange, dedicated: false)
        } else {
            pool.enqueue(exchange)
        }
    }

    private func openConnection(to endpoint: Int, for exchange: Exchange, dedicated: Bool) {
        let pool = pools[endpoint]
        guard let descriptor = POSIX.makeStreamSocket(family: pool.address.family) else {
            finish(exchange, with: exchange.error(.connectFailed, "socket: \(POSIX.describe(POSIX.lastError))"))
            return
        }
        let connection = Connection(descriptor: descriptor, endpoint: endpoint, isDedicatedToStream: dedicated)
        connections[descriptor] = connection
        if dedicated {
            pool.streamCount += 1
        } else {
            pool.connectionCount += 1
        }
        connection.assign(exchange)
        let status = POSIX.startConnect(descriptor, to: pool.address)
        switch status {
        case 0:
            connectionEstablished(connection)
        case EINPROGRESS, EINTR:
            connection.phase = .connecting
        default:
            // Not `finish`: closing without serving the queue keeps a burst of refusals iterative.
            exchange.fail(exchange.error(.connectFailed, "connect to \(pool.hostHeader): \(POSIX.describe(status))"))
            exchanges[exchange.request.id] = nil
            connection.exchange = nil
            exchange.connection = nil
            close(connection, serveWaiting: false)
        }
    }

    private func handle(_ connection: Connection) {
        switch connection.phase {
        case .connecting:
            let status = POSIX.pendingError(connection.descriptor)
            if status != 0 {
                if let exchange = connection.exchange {
                    let host = pools[connection.endpoint].hostHeader
                    finish(exchange, with: exchange.error(.connectFailed, "connect to \(host): \(POSIX.describe(status))"))
                } else {
                    close(connection, serveWaiting: true)
                }
                return
            }
            connectionEstablished(connection)
        case .handshaking:
            continueHandshake(connection)
        case .busy:
            connection.tlsWait = nil
            if connection.hasOutbound {
                writeOutbound(connection)
            } else {
                readAvailable(connection)
            }
        case .idle:
            // An idle connection became readable: the member closed it (or sent junk).
            close(connection, serveWaiting: true)
        case .closed:
            break
        }
    }

    func writeOutbound(_ connection: Connection) {
        guard let exchange = connection.exchange else { return }
        while connection.hasOutbound {
            let outcome = connection.outbound.withUnsafeBytes { raw in
                connection.send(UnsafeRawBufferPointer(rebasing: raw[connection.outboundOffset...]))
            }
            switch outcome {
            case .transferred(let written):
                connection.outboundOffset += written
                exchange.bytesWritten += written
            case .blocked(let wait):
                if wait == .readable { connection.tlsWait = wait }
                return
            case .endOfStream:
                finish(exchange, with: exchange.error(.connectionClosed, "write: the peer closed the connection"))
                return
            case .failed(let kind, let detail):
                finish(exchange, with: exchange.error(kind, detail))
                return
            }
        }
    }

    private func readAvailable(_ connection: Connection) {
        guard let exchange = connection.exchange else {
            close(connection, serveWaiting: true)
            return
        }
        // Bounded so one busy stream cannot starve the other sockets.
        for _ in 0..<16 {
            let count: Int
            switch readBuffer.withUnsafeMutableBytes({ connection.receive(into: $0) }) {
            case .transferred(let transferred):
                count = transferred
            case .blocked(let wait):
                if wait == .writable { connection.tlsWait = wait }
                return
            case .failed(.tlsFailed, let detail) where !connection.hasReceivedPlaintext:
                // A TLS 1.3 member that refuses our certificate says so on our first read, after
                // the request went out; it verifies the certificate before reading any request.
                finish(exchange, with: TransportError(kind: .tlsFailed, requestMayHaveBeenSent: false, detail: detail))
                return
            case .failed(let kind, let detail):
                finish(exchange, with: exchange.error(kind, detail))
                return
            case .endOfStream:
                do {
                    try connection.parser.finishAtEndOfStream { try exchange.receive($0) }
                    complete(connection, reusable: false)
                } catch {
                    // A TLS member closes a plaintext connection without a word.
                    let hint = pools[connection.endpoint].tls == nil && !connection.hasReceivedPlaintext
                        ? " (the member closed the connection without answering; does it expect https://?)" : ""
                    finish(exchange, with: exchange.error(.connectionClosed, "\(error)\(hint)"))
                }
                return
            }
            pools[connection.endpoint].lastHeard = .now
            connection.hasReceivedPlaintext = true
            connection.inbound.append(contentsOf: readBuffer[0..<count])
            do {
                let consumed = try connection.parser.consume(connection.inbound) { try exchange.receive($0) }
                if consumed == connection.inbound.count {
                    connection.inbound.removeAll(keepingCapacity: true)
                } else if consumed > 0 {
                    connection.inbound.removeFirst(consumed)
                }
            } catch {
                finish(exchange, with: exchange.error(.malformedResponse, "\(error)"))
                return
            }
            if connection.parser.isComplete {
                complete(connection, reusable: connection.parser.isKeepAlive && connection.inbound.isEmpty)
                return
            }
        }
    }

    /// Delivers a complete response and recycles or closes its connection.
    private func complete(_ connection: Connection, reusable: Bool) {
        guard let exchange = connection.exchange else { return }
        exchange.succeed()
        exchanges[exchange.request.id] = nil
        connection.exchange = nil
        exchange.connection = nil
        guard reusable, !connection.isDedicatedToStream else {
            close(connection, serveWaiting: true)
            return
        }
        let pool = pools[connection.endpoint]
        if let next = pool.dequeue() {
            connection.assign(next)
            writeOutbound(connection)
        } else {
            connection.phase = .idle
            pool.idle.append(connection)
        }
    }

    /// Fails `exchange` and closes the connection serving it, if any.
    func finish(_ exchange: Exchange, with error: TransportError) {
        exchange.fail(error)
        exchanges[exchange.request.id] = nil
        if let connection = exchange.connection, connection.exchange === exchange {
            connection.exchange = nil
            exchange.connection = nil
            close(connection, serveWaiting: true)
        }
    }

    func close(_ connection: Connection, serveWaiting: Bool) {
        guard connection.phase != .closed else { return }
        let wasIdle = connection.phase == .idle
        connection.phase = .closed
        connection.closeSocket()
        connections[connection.descriptor] = nil
        if let exchange = connection.exchange {
            connection.exchange = nil
            exchange.connection = nil
            exchange.fail(exchange.error(.connectionClosed, "connection closed"))
            exchanges[exchange.request.id] = nil
        }
        let pool = pools[connection.endpoint]
        guard !connection.isDedicatedToStream else {
            pool.streamCount -= 1
            return
        }
        pool.connectionCount -= 1
        if wasIdle { pool.idle.removeAll { $0 === connection } }
        if serveWaiting {
            while pool.connectionCount < pool.maximumConnections, let next = pool.dequeue() {
                openConnection(to: connection.endpoint, for: next, dedicated: false)
            }
        }
    }

    private func tearDown() {
        let shutDown = TransportError(kind: .shutDown, requestMayHaveBeenSent: true, detail: "the client was shut down")
        let pending = inbox.withLock { inbox -> [Command] in
            defer { inbox.commands = [] }
            return inbox.commands
        }
        for case .start(let request) in pending {
            Exchange(request).fail(
                TransportError(kind: .shutDown, requestMayHaveBeenSent: false, detail: "the client was shut down"))
        }
        for exchange in exchanges.values { exchange.fail(shutDown) }
        exchanges = [:]
        for connection in connections.values {
            connection.exchange = nil
            connection.phase = .closed
            connection.closeSocket()
        }
        connections = [:]
        for pool in pools { pool.idle = [] }
        let waiters = inbox.withLock { inbox -> [CheckedContinuation<Void, Never>] in
            inbox.hasExited = true
            defer { inbox.exitWaiters = [] }
            return inbox.exitWaiters
        }
        for waiter in waiters { waiter.resume() }
    }
}
