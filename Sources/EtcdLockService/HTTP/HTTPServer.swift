import Foundation
import HTTPCore
import Synchronization
import SystemTLS

/// A small, hardened HTTP/1.1 server on POSIX sockets: one thread accepts, one thread per
/// connection reads and writes (bounded by ``Configuration/maximumConnections``), and each
/// request's handler runs as a Swift task that the server owns.
///
/// Hardening: bounded request heads and bodies, a deadline from a request's first byte to its
/// last (a byte-trickling client is answered 408 and dropped), an idle deadline on keep-alive
/// connections, a write deadline, and a bound on connections. At the bound, a newcomer is
/// admitted by closing the longest-idle connection (one waiting for its next request, or for its
/// first); only when every connection has a request in flight is the newcomer answered 503 and
/// closed at once. (A request that reaches an idle connection as it is closed is lost with it, as
/// with any keep-alive close: HTTP clients retry such a request on a new connection.) A refused request is answered, then the connection's sending side is shut and
/// what the caller still sends is read and discarded for a moment (a lingering close), so a caller
/// still sending a body reads its 413 instead of a reset.
///
/// A caller that half-closes after a whole request (`shutdown(SHUT_WR)`) still gets its answer:
/// only a real disconnect cancels the handler's task (a long-poll then withdraws its waiter). To
/// tell the two apart after an HTTP/1.1 caller's end of stream, the server sends it an interim
/// `100 Continue` now and then (which HTTP/1.1 clients skip): a caller that closed entirely
/// answers with a reset. (An HTTP/1.0 caller cannot be probed; it is answered when its handler
/// ends.) A response that carries ``HTTPResponse/onUndelivered`` is checked for delivery — the
/// caller's TCP must acknowledge it within the write timeout — and that action runs if it was not.
/// ``shutdown()`` stops accepting, closes idle connections, cancels handlers in flight and waits
/// for every connection to end.
///
/// Connection threads block only in `poll`, never a Swift concurrency thread; handlers hand their
/// response back through a pipe that wakes the connection's thread.
public final class HTTPServer: Sendable {
    /// Limits and deadlines.
    public struct Configuration: Sendable {
        /// The host to listen on (`127.0.0.1`, `::1`, `0.0.0.0`).
        public var host: String
        /// The port; 0 lets the system pick one (see ``HTTPServer/port``).
        public var port: Int
        /// Open connections at most. A newcomer beyond it closes the longest-idle connection; when
        /// none is idle, it is answered 503 and closed.
        public var maximumConnections = 512
        /// Request line plus header fields, in bytes, at most (431 beyond).
        public var maximumHeaderBytes = 16 * 1024
        /// Body bytes at most (413 beyond).
        public var maximumBodyBytes = 64 * 1024
        /// From a request's first byte to its last (408 and close beyond).
        public var requestTimeout: Duration = .seconds(10)
        /// How long a connection may wait for its first request, or idle between two.
        public var idleTimeout: Duration = .seconds(30)
        /// How long a connection must have been silent before it may be closed to make room for a
        /// newcomer at ``maximumConnections`` (a caller that has just connected is about to send).
        public var evictableAfter: Duration = .seconds(1)
        /// How long a refused caller's remaining bytes are read and discarded after its answer.
        public var lingerTimeout: Duration = .seconds(2)
        /// How long writing a response may take.
        public var writeTimeout: Duration = .seconds(10)
        /// Serve HTTPS with these files instead of plain HTTP; `nil` serves plain HTTP. The TLS
        /// handshake counts against ``requestTimeout``.
        public var tls: TLS?

        /// Listens on `host`:`port` with the default limits.
        public init(host: String, port: Int) {
            self.host = host
            self.port = port
        }
    }

    /// Answers one request; cancelled when its caller disconnects or the server shuts down.
    public typealias Handler = @Sendable (HTTPRequest) async -> HTTPResponse

    struct State {
        /// Connections whose thread runs.
        var connections = 0
        /// Connections closed to make room, whose thread has not ended yet: they count no more.
        var evicted: Set<UInt64> = []
        /// Connections waiting for a request's first byte: descriptor and since when (monotonic ms).
        var idle: [UInt64: (descriptor: Int32, since: Int64)] = [:]
        var nextConnection: UInt64 = 0
        var isDraining = false
        /// Handler tasks in flight, by request number: cancelled on shutdown.
        var handlers: [UInt64: Task<Void, Never>] = [:]
        var nextRequest: UInt64 = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    let configuration: Configuration
    let handler: Handler
    private let listener: Int32
    /// Written once on shutdown and never read: readable from then on, it wakes every `poll`.
    let shutdownPipe: WakePipe
    /// Set when the server speaks HTTPS.
    let tlsContext: TLSContext?
    let state = Mutex(State())
    /// The port the server listens on.
    public let port: Int

    /// Binds and listens, then starts accepting on a thread of its own.
    ///
    /// - Throws: when the address cannot be bound, or a TLS file cannot be read or used (a key
    ///   that does not match its certificate, say).
    public init(_ configuration: Configuration, handler: @escaping Handler) throws {
        self.configuration = configuration
        self.handler = handler
        tlsContext = try configuration.tls.map {
            try TLSContext(serving: $0.certificatePath, privateKeyPath: $0.privateKeyPath, clientCAPath: $0.clientCAPath)
        }
        let (listener, port) = try ServerSocket.listen(host: configuration.host, port: configuration.port)
        guard let pipe = WakePipe() else {
            ServerSocket.closeDescriptor(listener)
            throw ServerSocket.Failure(description: "cannot create a pipe")
        }
        self.listener = listener
        self.port = port
        shutdownPipe = pipe
        startThread { [self] in acceptLoop() }
    }

    /// How many connections are open.
    public var connectionCount: Int { state.withLock { $0.connections } }

    /// How many open connections wait for a request (between two, or for the first one): the
    /// ones that may be closed for a newcomer at ``Configuration/maximumConnections``.
    public var idleConnectionCount: Int { state.withLock { $0.idle.count } }

    /// Stops accepting, closes idle connections, cancels the handlers in flight (their callers
    /// get what the handlers answer when cancelled) and returns once every connection has ended.
    public func shutdown() async {
        let handlers = state.withLock { state -> [Task<Void, Never>] in
            state.isDraining = true
            return Array(state.handlers.values)
        }
        shutdownPipe.signal()
        for handler in handlers { handler.cancel() }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let isDone = state.withLock { state -> Bool in
                if state.connections == 0 { return true }
                state.drained.append(continuation)
                return false
            }
            if isDone { continuation.resume() }
        }
    }

    var isDraining: Bool { state.withLock { $0.isDraining } }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 512 * 1024
        thread.start()
    }

    // MARK: Accepting

    private func acceptLoop() {
        defer { ServerSocket.closeDescriptor(listener) }
        while true {
            let events = ServerSocket.poll([(listener, Int16(POLLIN)), (shutdownPipe.readDescriptor, Int16(POLLIN))], milliseconds: -1)
            if events[1] != 0 || isDraining { return }
            guard events[0] != 0, let connection = ServerSocket.accept(listener) else { continue }
            guard let id = admit(connection) else {
                // A TLS caller could not read a plaintext refusal: it just sees the close.
                guard tlsContext == nil else {
                    ServerSocket.closeDescriptor(connection)
                    continue
                }
                let refusal = ServiceError(status: 503, code: "overloaded", message: "too many connections, none idle").response
                _ = ServerSocket.writeAll(connection, refusal.serialized(closing: true), milliseconds: 100)
                ServerSocket.closeDescriptor(connection)
                continue
            }
            startThread { [self] in
                serve(connection, id: id)
                connectionEnded(id, descriptor: connection)
            }
        }
    }

    /// Counts a new connection in, closing the longest-idle one at the limit; `nil` when every
    /// connection is busy (or the server is draining).
    private func admit(_ connection: Int32) -> UInt64? {
        state.withLock { state -> UInt64? in
            guard !state.isDraining else { return nil }
            if state.connections - state.evicted.count >= configuration.maximumConnections {
                // Idle means silent for a second at least, and no bytes waiting: a caller that has
                // just connected is about to send (it gets 503 rather than a closed connection),
                // and one whose request has arrived but not been picked up yet is busy.
                let now = ServerSocket.monotonicMilliseconds()
                let quiet = state.idle.filter {
                    now - $0.value.since >= Self.milliseconds(configuration.evictableAfter)
                        && !ServerSocket.hasPendingInput($0.value.descriptor)
                }
                guard let (oldest, entry) = quiet.min(by: { $0.value.since < $1.value.since }) else { return nil }
                // Under the lock: an idle connection's thread leaves `idle` under it before it
                // closes its descriptor, so this one is still open.
                state.idle.removeValue(forKey: oldest)
                state.evicted.insert(oldest)
                ServerSocket.shutdownBoth(entry.descriptor)
            }
            state.connections += 1
            state.nextConnection += 1
            return state.nextConnection
        }
    }

    /// Forgets a connection whose thread ended and closes it.
    private func connectionEnded(_ id: UInt64, descriptor: Int32) {
        state.withLock { state in
            state.idle.removeValue(forKey: id)
            state.evicted.remove(id)
        }
        ServerSocket.closeDescriptor(descriptor)
        let drained = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connections -= 1
            guard state.connections == 0 else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in drained { continuation.resume() }
    }

    deinit {
        shutdownPipe.close()
    }

    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

