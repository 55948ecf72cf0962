import SystemTLS

#if canImport(Glibc)
import Glibc
#endif

/// One accepted connection, plain or TLS, as its connection thread reads and writes it.
///
/// Not `Sendable`: only the thread serving the connection touches it (and its TLS session).
final class ServerConnection {
    /// The socket; the owner closes it.
    let descriptor: Int32
    private let tls: TLSSession?

    /// Wraps `descriptor`; with `context`, the connection speaks TLS (handshake first).
    init(_ descriptor: Int32, context: TLSContext?) throws(TLSFailure) {
        self.descriptor = descriptor
        tls = try context?.makeSession(descriptor: descriptor, serverName: nil)
    }

    /// Completes the TLS handshake (verifying the client's certificate when the context requires
    /// one) before `deadline` (monotonic milliseconds); a plain connection has none. Returns
    /// whether the connection may be served.
    func handshake(until deadline: Int64) -> Bool {
        guard let tls else { return true }
        while true {
            switch tls.handshake() {
            case .complete: return true
            case .failed, .connectionLost: return false
            case .blocked(let wait):
                guard self.wait(for: wait, until: deadline) else { return false }
            }
        }
    }

    /// Whether decrypted bytes wait in the TLS session: read them without polling the socket.
    var hasBufferedInput: Bool { tls?.hasBufferedInput ?? false }

    /// Reads what is available: the bytes, `[]` at end of stream (or on an error), `nil` when
    /// nothing is available yet.
    func read(maximum: Int) -> [UInt8]? {
        guard let tls else { return ServerSocket.read(descriptor, maximum: maximum) }
        var buffer = [UInt8](repeating: 0, count: maximum)
        switch buffer.withUnsafeMutableBytes({ tls.read(into: $0) }) {
        case .transferred(let count): return Array(buffer[..<count])
        case .blocked(.readable): return nil
        case .blocked(.writable):
            // The session must send something first (a TLS 1.3 key update): let it, briefly.
            _ = wait(for: .writable, until: ServerSocket.monotonicMilliseconds() + 1000)
            return nil
        case .endOfStream, .tlsFailed, .socketFailed: return []
        }
    }

    /// Writes all of `bytes` within `milliseconds`; returns whether it did.
    func writeAll(_ bytes: [UInt8], milliseconds: Int32) -> Bool {
        guard let tls else { return ServerSocket.writeAll(descriptor, bytes, milliseconds: milliseconds) }
        let deadline = ServerSocket.monotonicMilliseconds() + Int64(milliseconds)
        var offset = 0
        while offset < bytes.count {
            let outcome = bytes.withUnsafeBytes { raw in tls.write(UnsafeRawBufferPointer(rebasing: raw[offset...])) }
            switch outcome {
            case .transferred(let count): offset += count
            case .blocked(let direction):
                guard wait(for: direction, until: deadline) else { return false }
            case .endOfStream, .tlsFailed, .socketFailed: return false
            }
        }
        return true
    }

    /// Says goodbye to a TLS peer without waiting; the owner then closes the socket.
    func shutdown() {
        tls?.shutdown()
    }

    private func wait(for direction: TLSSession.Wait, until deadline: Int64) -> Bool {
        let left = deadline - ServerSocket.monotonicMilliseconds()
        guard left > 0 else { return false }
        let events = Int16(direction == .readable ? POLLIN : POLLOUT)
        return ServerSocket.poll([(descriptor, events)], milliseconds: Int32(min(left, 60_000)))[0] != 0
    }
}
