#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import HTTPCore

/// The server's socket calls, on non-blocking descriptors: listening and accepting, blocking
/// helpers for a connection's own thread (write all within a deadline, a lingering close, waiting
/// for the peer's acknowledgement). The calls the gateway client makes too (set-up, sends,
/// receives, `poll`, wake-up pipes, the clock) are `HTTPCore`'s ``SocketCalls``.
enum ServerSocket {
    #if canImport(Darwin)
    static let peerClosedEvents = Int16(POLLHUP)
    #else
    /// A peer that closed or shut down its side (Linux reports the half-close as POLLRDHUP).
    static let peerClosedEvents = Int16(0x2000) | Int16(POLLHUP)  // POLLRDHUP (needs _GNU_SOURCE to be imported)
    #endif

    /// Why listening failed.
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A listening socket bound to `host`:`port` (port 0: one the system picks), and the port.
    static func listen(host: String, port: Int) throws -> (descriptor: Int32, port: Int) {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = SocketCalls.streamSocketType
        hints.ai_flags = AI_PASSIVE
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw Failure(description: "cannot resolve \(host): \(String(cString: gai_strerror(status)))")
        }
        defer { freeaddrinfo(list) }
        let info = first.pointee
        let descriptor = socket(info.ai_family, SocketCalls.streamSocketType, 0)
        guard descriptor >= 0 else { throw Failure(description: "socket: \(describe(errno))") }
        var one: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, info.ai_addr, info.ai_addrlen) == 0 else {
            let code = errno
            close(descriptor)
            throw Failure(description: "cannot listen on \(host):\(port): \(describe(code))")
        }
        guard Glibc.listen(descriptor, 256) == 0, configure(descriptor) else {
            let code = errno
            close(descriptor)
            throw Failure(description: "listen: \(describe(code))")
        }
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let bound = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        guard bound == 0 else { throw Failure(description: "getsockname: \(describe(errno))") }
        let boundPort: UInt16 =
            Int32(storage.ss_family) == AF_INET6
            ? withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_port } }
            : withUnsafePointer(to: &storage) { $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_port } }
        return (descriptor, Int(UInt16(bigEndian: boundPort)))
    }

    /// Non-blocking and close-on-exec, with Nagle's algorithm off for TCP.
    static func configure(_ descriptor: Int32) -> Bool { SocketCalls.configureStream(descriptor) }

    /// Accepts one pending connection, configured; `nil` when none is pending or it failed.
    static func accept(_ listener: Int32) -> Int32? {
        let descriptor = Glibc.accept(listener, nil, nil)
        guard descriptor >= 0 else { return nil }
        guard configure(descriptor) else {
            close(descriptor)
            return nil
        }
        return descriptor
    }

    /// Waits up to `milliseconds` (-1: forever) for `events` on each descriptor; returns the events
    /// that occurred, one per descriptor (0 on timeout).
    static func poll(_ watched: [(descriptor: Int32, events: Int16)], milliseconds: Int32) -> [Int16] {
        SocketCalls.poll(watched, milliseconds: milliseconds)
    }

    /// Reads what is available: the bytes, `[]` at end of stream, `nil` when nothing is available
    /// yet; throws nothing — an error reads as end of stream.
    static func read(_ descriptor: Int32, maximum: Int) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: maximum)
        guard let count = buffer.withUnsafeMutableBytes({ SocketCalls.receive(descriptor, into: $0) }) else { return nil }
        return count > 0 ? Array(buffer[..<count]) : []
    }

    /// Writes all of `bytes` within `milliseconds`; returns whether it did.
    static func writeAll(_ descriptor: Int32, _ bytes: [UInt8], milliseconds: Int32) -> Bool {
        var offset = 0
        let end = monotonicMilliseconds() + Int64(milliseconds)
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes { SocketCalls.send(descriptor, UnsafeRawBufferPointer(rebasing: $0[offset...])) }
            guard sent >= 0 else { return false }
            offset += sent
            guard sent == 0 else { continue }
            let left = end - monotonicMilliseconds()
            guard left > 0 else { return false }
            _ = poll([(descriptor, Int16(POLLOUT))], milliseconds: Int32(left))
        }
        return true
    }

    static func closeDescriptor(_ descriptor: Int32) { _ = close(descriptor) }

    /// Shuts both directions of a connection down: its owner's `poll` wakes and reads the end.
    static func shutdownBoth(_ descriptor: Int32) { _ = shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// Ends the sending side, then reads and discards what the peer still sends, until it closes
    /// or `milliseconds` or `maximumBytes` run out, so that a peer still sending a request the
    /// server refused is not reset (a reset can cost the peer the answer) and reads the answer.
    static func lingeringClose(_ descriptor: Int32, milliseconds: Int64, maximumBytes: Int) {
        _ = shutdown(descriptor, Int32(SHUT_WR))
        let end = monotonicMilliseconds() + milliseconds
        var discarded = 0
        while discarded < maximumBytes {
            let left = end - monotonicMilliseconds()
            guard left > 0 else { return }
            _ = poll([(descriptor, Int16(POLLIN))], milliseconds: Int32(left))
            guard let bytes = read(descriptor, maximum: 64 * 1024) else { continue }
            if bytes.isEmpty { return }
            discarded += bytes.count
        }
    }

    /// Whether bytes (or an end of stream) wait to be read on `descriptor`, without blocking.
    static func hasPendingInput(_ descriptor: Int32) -> Bool {
        poll([(descriptor, Int16(POLLIN))], milliseconds: 0)[0] != 0
    }

    /// Whether the peer's TCP acknowledged every byte written so far within `milliseconds`:
    /// `false` when the connection was reset (the peer is gone) or the time ran out.
    ///
    /// An acknowledgement means the answer reached the peer's host, which hands it to the peer
    /// (a peer process that died would have had its socket reset instead).
    static func awaitAcknowledged(_ descriptor: Int32, milliseconds: Int64) -> Bool {
        let end = monotonicMilliseconds() + milliseconds
        // The peer's next bytes (its next request) carry the acknowledgement: wake on them. Once
        // the connection is readable with bytes still unacknowledged (an end of stream stays
        // readable), stop watching for input, or `poll` would spin.
        var input = Int16(POLLIN)
        while true {
            // Only errors and hang-ups are reported for an empty event mask: a reset is both.
            let failed = poll([(descriptor, 0)], milliseconds: 0)[0] & Int16(POLLERR | POLLHUP) != 0
            guard !failed, let unacknowledged = unacknowledgedBytes(descriptor) else { return false }
            if unacknowledged == 0 { return true }
            let left = end - monotonicMilliseconds()
            guard left > 0 else { return false }
            // No event announces an acknowledgement alone: look again shortly (a delayed ACK
            // takes up to 40 ms), or as soon as the peer sends something.
            if poll([(descriptor, input)], milliseconds: Int32(min(left, 5)))[0] & Int16(POLLIN) != 0 { input = 0 }
        }
    }

    /// Bytes written but not yet acknowledged by the peer; `nil` when the system cannot say.
    private static func unacknowledgedBytes(_ descriptor: Int32) -> Int? {
        var count: Int32 = 0
        #if canImport(Darwin)
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_NWRITE, &count, &length) == 0 else { return nil }
        #else
        guard ioctl(descriptor, UInt(TIOCOUTQ), &count) == 0 else { return nil }
        #endif
        return Int(count)
    }

    /// Milliseconds on the monotonic clock.
    static func monotonicMilliseconds() -> Int64 { SocketCalls.monotonicMilliseconds() }

    static func describe(_ code: Int32) -> String { SocketCalls.describe(code) }
}
