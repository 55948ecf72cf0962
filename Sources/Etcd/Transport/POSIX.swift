#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPCore

/// Thin, typed wrappers over the few POSIX socket calls the transport needs; the calls the lock
/// service's server makes too come from `HTTPCore`'s ``SocketCalls``.
///
/// Everything here is synchronous and non-blocking; only the I/O thread calls it.
enum POSIX {
    /// The calling thread's `errno`.
    static var lastError: Int32 { errno }

    /// A human-readable text for an `errno` value.
    static func describe(_ code: Int32) -> String { SocketCalls.describe(code) }

    /// Creates a non-blocking, close-on-exec TCP socket with Nagle's algorithm off.
    static func makeStreamSocket(family: Int32) -> Int32? {
        let fd = socket(family, SocketCalls.streamSocketType, 0)
        guard fd >= 0 else { return nil }
        guard SocketCalls.configureStream(fd, isTCP: family == AF_INET || family == AF_INET6) else {
            close(fd)
            return nil
        }
        return fd
    }

    /// Starts a non-blocking connect. Returns 0 when connected, `EINPROGRESS` while pending,
    /// or another `errno` on failure.
    static func startConnect(_ fd: Int32, to address: SocketAddress) -> Int32 {
        let result = address.storage.withUnsafeBytes { raw -> Int32 in
            guard let base = raw.baseAddress else { return -1 }
            return connect(fd, base.assumingMemoryBound(to: sockaddr.self), address.length)
        }
        if result == 0 { return 0 }
        return errno
    }

    /// The pending error of a socket whose non-blocking connect finished (0 = connected).
    static func pendingError(_ fd: Int32) -> Int32 {
        var error: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        if getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length) != 0 { return errno }
        return error
    }

    /// Writes as much as the socket takes. Returns bytes written, 0 when it would block,
    /// or `-errno` on failure.
    static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int { SocketCalls.send(fd, bytes) }

    /// Reads into `buffer`. Returns bytes read, 0 at end of stream, `nil` when it would block,
    /// or `-errno` on failure.
    static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int? { SocketCalls.receive(fd, into: buffer) }

    /// Whether an idle keep-alive socket is still usable: not closed by the peer and
    /// holding no unexpected bytes.
    static func isIdleSocketUsable(_ fd: Int32) -> Bool {
        var byte: UInt8 = 0
        let count = recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT))
        if count < 0 {
            let code = errno
            return code == EAGAIN || code == EWOULDBLOCK
        }
        return false
    }

    static func closeDescriptor(_ fd: Int32) {
        _ = close(fd)
    }
}
