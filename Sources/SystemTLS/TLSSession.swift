import COpenSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// One TLS connection (`SSL`) over a non-blocking socket.
///
/// Not `Sendable`: a session is driven by one thread at a time (the thread that owns its
/// socket). Every call is non-blocking; when OpenSSL needs the socket to become readable or
/// writable first, the call says which, and the caller polls for it and calls again.
public final class TLSSession {
    /// What a session waits for before the same call can make progress.
    public enum Wait: Sendable, Equatable {
        /// The socket must become readable.
        case readable
        /// The socket must become writable.
        case writable
    }

    /// The outcome of one handshake step.
    public enum HandshakeStep {
        /// The handshake is complete (and the peer verified, if verification is on).
        case complete
        /// Call again once the socket is ready.
        case blocked(Wait)
        /// The handshake failed for good: the peer's certificate did not verify, it refused ours,
        /// the protocols do not match.
        case failed(TLSFailure)
        /// The connection broke under the handshake (a reset, a broken pipe): nothing about TLS
        /// itself, and another attempt may succeed. `errno` text.
        case connectionLost(String)
    }

    /// The outcome of one read or write.
    public enum Transfer {
        /// This many plaintext bytes were read or written.
        case transferred(Int)
        /// The peer ended the stream (a read only).
        case endOfStream
        /// Call again once the socket is ready.
        case blocked(Wait)
        /// TLS failed: a protocol error, a bad record, an alert from the peer.
        case tlsFailed(TLSFailure)
        /// The socket failed (reset, broken pipe); `errno` text.
        case socketFailed(String)
    }

    private let session: OpaquePointer

    init(_ session: OpaquePointer) {
        self.session = session
    }

    deinit {
        SSL_free(session)
    }

    /// Advances the handshake.
    public func handshake() -> HandshakeStep {
        ERR_clear_error()
        let result = SSL_do_handshake(session)
        if result == 1 { return .complete }
        switch outcome(of: result) {
        case .blocked(let wait): return .blocked(wait)
        case .tlsFailed(let failure): return .failed(failure)
        case .socketFailed(let text): return .connectionLost("the connection failed during the TLS handshake: \(text)")
        // A clean close before any answer is how a plaintext member (etcd's connection multiplexer)
        // turns a ClientHello away: a configuration to fix, not a connection to retry.
        case .endOfStream:
            return .failed(TLSFailure("the peer closed the connection during the TLS handshake (does it speak TLS?)"))
        case .transferred: return .failed(TLSFailure("the TLS handshake stopped unexpectedly"))
        }
    }

    /// Writes as much of `bytes` as the session takes now.
    public func write(_ bytes: UnsafeRawBufferPointer) -> Transfer {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return .transferred(0) }
        ERR_clear_error()
        let written = SSL_write(session, base, Int32(clamping: bytes.count))
        if written > 0 { return .transferred(Int(written)) }
        return outcome(of: written)
    }

    /// Reads plaintext into `buffer`.
    public func read(into buffer: UnsafeMutableRawBufferPointer) -> Transfer {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return .transferred(0) }
        ERR_clear_error()
        let count = SSL_read(session, base, Int32(clamping: buffer.count))
        if count > 0 { return .transferred(Int(count)) }
        return outcome(of: count)
    }

    /// Blocks SIGPIPE for the calling thread; call it first on every thread that drives sessions.
    /// OpenSSL writes to its socket without `MSG_NOSIGNAL`, and a peer that went away must fail
    /// the write (EPIPE), not kill the process. A SIGPIPE raised by the thread then stays pending
    /// on it, harmlessly, for the thread's lifetime.
    public static func blockBrokenPipeSignalOnThisThread() {
        var signals = sigset_t()
        sigemptyset(&signals)
        sigaddset(&signals, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &signals, nil)
    }

    /// Whether decrypted bytes wait inside the session: the socket will not signal them, so
    /// the caller must read again without polling.
    public var hasBufferedInput: Bool { SSL_pending(session) > 0 }

    /// Sends close_notify if the socket takes it at once (never waits). The caller closes the socket.
    public func shutdown() {
        ERR_clear_error()
        _ = SSL_shutdown(session)
        ERR_clear_error()
    }

    private func outcome(of result: Int32) -> Transfer {
        let code = SSL_get_error(session, result)
        switch code {
        case SSL_ERROR_WANT_READ:
            return .blocked(.readable)
        case SSL_ERROR_WANT_WRITE:
            return .blocked(.writable)
        case SSL_ERROR_ZERO_RETURN:
            return .endOfStream
        case SSL_ERROR_SYSCALL:
            let number = errno
            ERR_clear_error()
            if result == 0 || number == 0 { return .endOfStream }
            return .socketFailed(String(cString: strerror(number)))
        default:
            let verify = SSL_get_verify_result(session)
            return .tlsFailed(TLSFailure.fromErrorQueue("TLS failed", verifyResult: Int(verify)))
        }
    }
}
