#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPCore
import Synchronization
import SystemTLS

/// One connection's life, on the connection's own thread: the TLS handshake (HTTPS), then read a
/// request within its deadlines, run the handler as an owned task, write the answer, and again
/// while the caller keeps it alive.
extension HTTPServer {
    func serve(_ descriptor: Int32, id: UInt64) {
        TLSSession.blockBrokenPipeSignalOnThisThread()
        // The handshake counts against the request timeout, as a request's first bytes would; a
        // caller that has not finished it is as idle as a silent one, so a flood of silent or
        // half-begun handshakes cannot lock callers out (see `admit`).
        let accepted = ServerSocket.monotonicMilliseconds()
        state.withLock { $0.idle[id] = (descriptor, accepted) }
        let connection = try? ServerConnection(descriptor, context: tlsContext)
        let shookHands = connection?.handshake(until: accepted + Self.milliseconds(configuration.requestTimeout)) ?? false
        let wasEvicted = state.withLock { $0.idle.removeValue(forKey: id) == nil }
        guard let connection, shookHands, !wasEvicted else { return }
        guard let wake = WakePipe() else { return }
        defer { wake.close() }
        let parser = HTTPRequestParser(
            maximumHeaderBytes: configuration.maximumHeaderBytes, maximumBodyBytes: configuration.maximumBodyBytes)
        let writeLimit = Int32(clamping: Self.milliseconds(configuration.writeTimeout))
        var buffer: [UInt8] = []
        while !isDraining {
            // Between requests: wait for the next one's first byte, at most the idle timeout. Idle,
            // the connection may be closed to make room for a newcomer (see `admit`).
            if buffer.isEmpty {
                let since = ServerSocket.monotonicMilliseconds()
                state.withLock { $0.idle[id] = (descriptor, since) }
                let reception = receive(connection, into: &buffer, until: since + Self.milliseconds(configuration.idleTimeout))
                let wasEvicted = state.withLock { $0.idle.removeValue(forKey: id) == nil }
                guard case .received = reception, !wasEvicted else { return }
            }
            // From the first byte, the whole request must arrive within the request timeout.
            let deadline = ServerSocket.monotonicMilliseconds() + Self.milliseconds(configuration.requestTimeout)
            var sentContinue = false
            var parsed: (HTTPRequest, Int, Bool)?
            var scanned = 0
            var needs = 0
            while parsed == nil {
                let outcome = buffer.count >= needs ? parser.parse(buffer, scanned: scanned) : .incomplete(expectsContinue: false, scanned: scanned, needs: needs)
                switch outcome {
                case .request(let request, let consumed, let keepAlive):
                    parsed = (request, consumed, keepAlive)
                case .refused(let status, let code, let message):
                    return refuse(connection, ServiceError(status: status, code: code, message: message))
                case .incomplete(let expectsContinue, let scannedNow, let needed):
                    (scanned, needs) = (scannedNow, needed)
                    if expectsContinue, !sentContinue {
                        sentContinue = true
                        guard connection.writeAll(Self.interimContinue, milliseconds: writeLimit) else { return }
                    }
                    switch receive(connection, into: &buffer, until: deadline) {
                    case .received: continue
                    case .closed, .shutdown: return
                    case .timedOut:
                        return refuse(
                            connection,
                            ServiceError(
                                status: 408, code: "request_timeout", message: "the request did not arrive within \(configuration.requestTimeout)"))
                    }
                }
            }
            guard let (request, consumed, keepAlive) = parsed else { return }
            buffer.removeFirst(consumed)
            let (response, callerLeft) = handle(request, on: connection, wake: wake)
            let closing = !keepAlive || isDraining
            let written = !callerLeft && connection.writeAll(response.serialized(closing: closing), milliseconds: writeLimit)
            if let undo = response.onUndelivered,
                !written || !ServerSocket.awaitAcknowledged(descriptor, milliseconds: Self.milliseconds(configuration.writeTimeout))
            {
                // Nobody received what the handler did for them (a lock): undo it, then hang up.
                runOwned(wake: wake) { await undo() }
                return
            }
            guard written, !closing else {
                if written { connection.shutdown() }
                return
            }
        }
    }

    /// `HTTP/1.1 100 Continue`: asks for a body, and probes a half-closed caller (HTTP/1.1
    /// clients skip any number of interim answers).
    static let interimContinue = Array("HTTP/1.1 100 Continue\r\n\r\n".utf8)

    /// Answers `error`, then closes the sending side and discards what the caller still sends for
    /// a moment, so that it reads the answer rather than a reset.
    private func refuse(_ connection: ServerConnection, _ error: ServiceError) {
        let writeLimit = Int32(clamping: Self.milliseconds(configuration.writeTimeout))
        guard connection.writeAll(error.response.serialized(closing: true), milliseconds: writeLimit) else { return }
        connection.shutdown()
        ServerSocket.lingeringClose(
            connection.descriptor, milliseconds: Self.milliseconds(configuration.lingerTimeout), maximumBytes: 4 * configuration.maximumBodyBytes + (1 << 20))
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
                    : [(connection.descriptor, Int16(POLLIN)), (shutdownPipe.readDescriptor, Int16(POLLIN))]
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

    /// Runs the handler as a task the server owns and waits for its response. Returns whether the
    /// caller disconnected first, in which case the task was cancelled (a waiter withdraws its key)
    /// and nobody is left to answer.
    ///
    /// A caller's end of stream alone is not a disconnect: it may have shut down only its sending
    /// side and still read. An HTTP/1.1 caller is then probed with interim `100 Continue` answers
    /// (now, and every second): a caller that closed entirely answers with a reset. An HTTP/1.0
    /// caller cannot be probed and is awaited.
    private func handle(_ request: HTTPRequest, on connection: ServerConnection, wake: WakePipe) -> (HTTPResponse, callerLeft: Bool) {
        let handler = self.handler
        var callerLeft = false
        var halfClosed = false
        let response = runOwned(wake: wake, until: { () -> Bool in
            // Before the caller's end of stream: wait for it. After it: only a reset or an error
            // wakes `poll` (an empty event mask), and the probe is sent again every second.
            let watched = halfClosed ? Int16(0) : ServerSocket.peerClosedEvents
            let events = ServerSocket.poll([(wake.readDescriptor, Int16(POLLIN)), (connection.descriptor, watched)], milliseconds: halfClosed ? 1000 : -1)
            if events[0] != 0 { return false }
            let reset = events[1] & Int16(POLLERR | POLLHUP) != 0
            if !reset, events[1] != 0 || halfClosed {
                halfClosed = true
                let probed = request.version == "HTTP/1.1" && connection.writeAll(Self.interimContinue, milliseconds: 1000)
                if probed || request.version != "HTTP/1.1" { return false }
            }
            callerLeft = true
            return true
        }) { await handler(request) }
        return (response, callerLeft)
    }

    /// Runs `work` as a task the server owns (cancelled on shutdown) and waits for its result on
    /// this thread. While waiting, `abandon` (which may block in `poll` until the wake pipe or
    /// something else is ready) is called until the result is there; once it returns `true` the
    /// task is cancelled, and still awaited.
    @discardableResult
    func runOwned<Result: Sendable>(
        wake: WakePipe, until abandon: (() -> Bool)? = nil, _ work: @escaping @Sendable () async -> Result
    ) -> Result {
        let slot = ResultSlot<Result>()
        let id = state.withLock { state -> UInt64 in
            state.nextRequest += 1
            return state.nextRequest
        }
        let task = Task {
            slot.fill(await work())
            wake.signal()
        }
        let draining = state.withLock { state -> Bool in
            state.handlers[id] = task
            return state.isDraining
        }
        if draining { task.cancel() }
        defer { _ = state.withLock { $0.handlers.removeValue(forKey: id) } }
        var abandoned = false
        while true {
            wake.drain()
            if let result = slot.result { return result }
            if abandoned || abandon == nil {
                _ = ServerSocket.poll([(wake.readDescriptor, Int16(POLLIN))], milliseconds: -1)
            } else if abandon?() == true {
                abandoned = true
                task.cancel()
            }
        }
    }
}

/// Where an owned task leaves its result for the connection's thread.
private final class ResultSlot<Result: Sendable>: Sendable {
    private let slot = Mutex<Result?>(nil)
    func fill(_ result: Result) { slot.withLock { $0 = result } }
    var result: Result? { slot.withLock { $0 } }
}
