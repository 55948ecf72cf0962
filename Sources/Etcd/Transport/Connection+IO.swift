import SystemTLS

/// The outcome of one read or write on a connection, plain or TLS.
enum ConnectionIO {
    /// This many bytes went out or came in.
    case transferred(Int)
    /// The peer ended the stream (reads only).
    case endOfStream
    /// Nothing can move until the socket is ready in this direction.
    case blocked(TLSSession.Wait)
    /// The connection failed for good.
    case failed(TransportError.Kind, String)
}

// Reads and writes go through TLS when the connection has a session, straight to the socket
// otherwise, so the loop drives both the same way. Loop thread only, like Connection.
extension Connection {
    /// Writes as much of `bytes` as the connection takes now.
    func send(_ bytes: UnsafeRawBufferPointer) -> ConnectionIO {
        if let tls {
            switch tls.write(bytes) {
            case .transferred(let count): return .transferred(count)
            case .endOfStream: return .failed(.connectionClosed, "write: the peer closed the connection")
            case .blocked(let wait): return .blocked(wait)
            case .tlsFailed(let failure): return .failed(.tlsFailed, "\(failure)")
            case .socketFailed(let text): return .failed(.connectionClosed, "write: \(text)")
            }
        }
        let written = POSIX.write(descriptor, bytes)
        if written > 0 { return .transferred(written) }
        if written == 0 { return bytes.isEmpty ? .transferred(0) : .blocked(.writable) }
        return .failed(.connectionClosed, "write: \(POSIX.describe(Int32(-written)))")
    }

    /// Reads what is available into `buffer`.
    func receive(into buffer: UnsafeMutableRawBufferPointer) -> ConnectionIO {
        if let tls {
            switch tls.read(into: buffer) {
            case .transferred(let count): return .transferred(count)
            case .endOfStream: return .endOfStream
            case .blocked(let wait): return .blocked(wait)
            case .tlsFailed(let failure): return .failed(.tlsFailed, "\(failure)")
            case .socketFailed(let text): return .failed(.connectionClosed, "read: \(text)")
            }
        }
        guard let count = POSIX.read(descriptor, into: buffer) else { return .blocked(.readable) }
        if count < 0 { return .failed(.connectionClosed, "read: \(POSIX.describe(Int32(-count)))") }
        return count == 0 ? .endOfStream : .transferred(count)
    }

    /// Says goodbye to a TLS peer (without waiting) and closes the socket.
    func closeSocket() {
        tls?.shutdown()
        tls = nil
        POSIX.closeDescriptor(descriptor)
    }

    /// Whether the connection holds decrypted bytes the socket will not signal again.
    var hasBufferedInput: Bool { tls?.hasBufferedInput ?? false }
}
