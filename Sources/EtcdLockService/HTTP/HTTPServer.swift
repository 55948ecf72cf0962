import Foundation
import Synchronization
import SystemTLS

/// A small, hardened HTTP/1.1 server on POSIX sockets: one thread accepts, one thread per
/// connection reads and writes (bounded by ``Configuration/maximumConnections``), and each
/// request's handler runs as a Swift task that the server owns.
///
/// Hardening: bounded request heads and bodies, a deadline from a request's first byte to its
/// last (a byte-trickling client is answered 408 and dropped), an idle deadline on keep-alive
/// connections, a write deadline, and a bound on connections (over it: 503 and close). A caller
/// that closes its connection while its request is handled has the handler's task cancelled
/// (a long-poll then withdraws its waiter). ``shutdown()`` stops accepting, closes idle
/// connections, cancels handlers in flight and waits for every connection to end.
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
        /// Open connections at most; more are answered 503 and closed.
        public var maximumConnections = 512
        /// Request line plus header fields, in bytes, at most (431 beyond).
        public var maximumHeaderBytes = 16 * 1024
        /// Body bytes at most (413 beyond).
        public var maximumBodyBytes = 64 * 1024
        /// From a request's first byte to its last (408 and close beyond).
        public var requestTimeout: Duration = .seconds(10)
        /// How long a keep-alive connection may stay idle between requests.
        public var idleTimeout: Duration = .seconds(60)
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

    private struct State {
        var connections = 0
        var isDraining = false
        /// Handler tasks in flight, by request number: cancelled on shutdown.
        var handlers: [UInt64: Task<Void, Never>] = [:]
        var nextRequest: UInt64 = 0
        var drained: [CheckedContinuation<Void, Never>] = []
    }

    private let configuration: Configuration
    private let handler: Handler
    private let listener: Int32
    /// Written once on shutdown and never read: readable from then on, it wakes every `poll`.
    private let shutdownPipe: (read: Int32, write: Int32)
    private let tlsContext: TLSContext?
    private let state = Mutex(State())
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
        guard let pipe = ServerSocket.makePipe() else {
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

    /// Stops accepting, closes idle connections, cancels the handlers in flight (their callers
    /// get what the handlers answer when cancelled) and returns once every connection has ended.
    public func shutdown() async {
        let handlers = state.withLock { state -> [Task<Void, Never>] in
            state.isDraining = true
            return Array(state.handlers.values)
        }
        ServerSocket.signal(shutdownPipe.write)
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

    private var isDraining: Bool { state.withLock { $0.isDraining } }

    private func startThread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 512 * 1024
        thread.start()
    }

    // MARK: Accepting

    private func acceptLoop() {
        defer { ServerSocket.closeDescriptor(listener) }
        while true {
            let events = ServerSocket.poll([(listener, Int16(POLLIN)), (shutdownPipe.read, Int16(POLLIN))], milliseconds: -1)
            if events[1] != 0 || isDraining { return }
            guard events[0] != 0, let connection = ServerSocket.accept(listener) else { continue }
            let admitted = state.withLock { state -> Bool in
                guard state.connections < configuration.maximumConnections, !state.isDraining else { return false }
                state.connections += 1
                return true
            }
            guard admitted else {
                // A TLS caller could not read a plaintext refusal: it just sees the close.
                guard tlsContext == nil else {
                    ServerSocket.closeDescriptor(connection)
                    continue
                }
                let refusal = ServiceError(status: 503, code: "overloaded", message: "too many connections").response
                _ = ServerSocket.writeAll(connection, refusal.serialized(closing: true), milliseconds: 100)
                ServerSocket.closeDescriptor(connection)
                continue
            }
            startThread { [self] in
                serve(connection)
                connectionEnded()
            }
        }
    }

    private func connectionEnded() {
        let drained = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.connections -= 1
            guard state.connections == 0 else { return [] }
            defer { state.drained = [] }
            return state.drained
        }
        for continuation in drained { continuation.resume() }
    }

    // MARK: One connection

    private func serve(_ descriptor: Int32) {
        defer { ServerSocket.closeDescriptor(descriptor) }
        TLSSession.blockBrokenPipeSignalOnThisThread()
        guard let connection = try? ServerConnection(descriptor, context: tlsContext),
            connection.handshake(until: ServerSocket.monotonicMilliseconds() + Self.milliseconds(configuration.requestTimeout))
        else { return }
        defer { connection.shutdown() }
        guard let wake = ServerSocket.makePipe() else { return }
        defer {
            ServerSocket.closeDescriptor(wake.read)
            ServerSocket.closeDescriptor(wake.write)
        }
        let parser = HTTPRequestParser(
            maximumHeaderBytes: configuration.maximumHeaderBytes, maximumBodyBytes: configuration.maximumBodyBytes)
        let writeLimit = Int32(clamping: Self.milliseconds(configuration.writeTimeout))
        var buffer: [UInt8] = []
        while !isDraining {
            // Between requests: wait for the next one's first byte, at most the idle timeout.
            if buffer.isEmpty {
                switch receive(connection, into: &buffer, until: ServerSocket.monotonicMilliseconds() + Self.milliseconds(configuration.idleTimeout)) {
                case .received: break
                case .closed, .timedOut, .shutdown: return
                }
            }
            // From the first byte, the whole request must arrive within the request timeout.
            let deadline = ServerSocket.monotonicMilliseconds() + Self.milliseconds(configuration.requestTimeout)
            var sentContinue = false
            var parsed: (HTTPRequest, Int, Bool)?
            while parsed == nil {
                switch parser.parse(buffer) {
                case .request(let request, let consumed, let keepAlive):
                    parsed = (request, consumed, keepAlive)
                case .refused(let status, let code, let message):
                    let response = ServiceError(status: status, code: code, message: message).response
                    _ = connection.writeAll(response.serialized(closing: true), milliseconds: writeLimit)
                    return
                case .incomplete(let expectsContinue):
                    if expectsContinue, !sentContinue {
                        sentContinue = true
                        guard connection.writeAll(Array("HTTP/1.1 100 Continue\r\n\r\n".utf8), milliseconds: writeLimit)
                        else { return }
                    }
                    switch receive(connection, into: &buffer, until: deadline) {
                    case .received: continue
                    case .closed, .shutdown: return
                    case .timedOut:
                        let response = ServiceError(
                            status: 408, code: "request_timeout", message: "the request did not arrive within \(configuration.requestTimeout)"
                        ).response
                        _ = connection.writeAll(response.serialized(closing: true), milliseconds: writeLimit)
                        return
                    }
                }
            }
            guard let (request, consumed, keepAlive) = parsed else { return }
            buffer.removeFirst(consumed)
            guard let response = handle(request, on: connection.descriptor, wake: wake) else { return }
            let closing = !keepAlive || isDraining
            guard connection.writeAll(response.serialized(closing: closing), milliseconds: writeLimit), !closing
            else { return }
        }
    }

    private enum Reception { case received, closed, timedOut, shutdown }

    /// Appends what arrives before `deadline` (monotonic milliseconds) to `buffer`.
    private func receive(_ connection: ServerConnection, into buffer: inout [UInt8], until deadline: Int64) -> Reception {
        // Once a shutdown began, the pipe stays readable: watching it again would spin.
        var shutdownSeen = false
        while true {
            let left = deadline - ServerSocket.monotonicMilliseconds()
            guard left > 0 else { return .timedOut }
            // Bytes already decrypted inside a TLS session never make the socket readable.
            if !connection.hasBufferedInput {
                let watched: [(descriptor: Int32, events: Int16)] =
                    shutdownSeen
                    ? [(connection.descriptor, Int16(POLLIN))]
                    : [(connection.descriptor, Int16(POLLIN)), (shutdownPipe.read, Int16(POLLIN))]
                let events = ServerSocket.poll(watched, milliseconds: Int32(min(left, 60_000)))
                // Mid-request bytes still count after a shutdown began; an idle connection just closes.
                if events.count > 1, events[1] != 0 {
                    if buffer.isEmpty { return .shutdown }
                    shutdownSeen = true
                }
                guard events[0] != 0 else { continue }
            }
            guard let bytes = connection.read(maximum: 16 * 1024) else { continue }
            if bytes.isEmpty { return .closed }
            buffer += bytes
            return .received
        }
    }

    /// Runs the handler as a task the server owns and waits for its response; cancels the task
    /// when the caller disconnects first (and then returns `nil`: nobody is left to answer).
    private func handle(_ request: HTTPRequest, on connection: Int32, wake: (read: Int32, write: Int32)) -> HTTPResponse? {
        let box = ResponseSlot()
        let handler = self.handler
        let id = state.withLock { state -> UInt64 in
            state.nextRequest += 1
            return state.nextRequest
        }
        let task = Task {
            let response = await handler(request)
            box.fill(response)
            ServerSocket.signal(wake.write)
        }
        let draining = state.withLock { state -> Bool in
            state.handlers[id] = task
            return state.isDraining
        }
        if draining { task.cancel() }
        defer { _ = state.withLock { $0.handlers.removeValue(forKey: id) } }
        var disconnected = false
        while true {
            let watched: [(descriptor: Int32, events: Int16)] =
                disconnected ? [(wake.read, Int16(POLLIN))] : [(wake.read, Int16(POLLIN)), (connection, ServerSocket.peerClosedEvents)]
            let events = ServerSocket.poll(watched, milliseconds: -1)
            if events[0] != 0 {
                ServerSocket.drain(wake.read)
                if let response = box.response { return disconnected ? nil : response }
            }
            if !disconnected, events.count > 1, events[1] != 0 {
                // The caller went away: stop its work (a waiter withdraws its key), then forget it.
                disconnected = true
                task.cancel()
            }
        }
    }

    deinit {
        ServerSocket.closeDescriptor(shutdownPipe.read)
        ServerSocket.closeDescriptor(shutdownPipe.write)
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}

/// Where a handler task leaves its response for the connection's thread.
private final class ResponseSlot: Sendable {
    private let slot = Mutex<HTTPResponse?>(nil)
    func fill(_ response: HTTPResponse) { slot.withLock { $0 = response } }
    var response: HTTPResponse? { slot.withLock { $0 } }
}
