#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The POSIX socket calls that the gateway client's event loop and the lock service's connection
/// threads share: descriptor set-up, non-blocking sends and receives, `poll`, and the clock their
/// deadlines read. Each side builds its own I/O model on these (the client one thread over every
/// connection, the server a thread per connection), but no call is written twice.
package enum SocketCalls {
    #if canImport(Darwin)
    /// `SOCK_STREAM`, as `socket(2)` takes it.
    package static let streamSocketType = SOCK_STREAM
    static let sendFlags: Int32 = 0
    #else
    /// `SOCK_STREAM`, as `socket(2)` takes it.
    package static let streamSocketType = Int32(SOCK_STREAM.rawValue)
    static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    /// A human-readable text for an `errno` value.
    package static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return String(cString: text)
    }

    /// Makes `descriptor` non-blocking and close-on-exec, with Nagle's algorithm off when it is a
    /// TCP socket (and no SIGPIPE where a flag on each send cannot say so); `false` on failure.
    package static func configureStream(_ descriptor: Int32, isTCP: Bool = true) -> Bool {
        let flags = fcntl(descriptor, F_GETFL, 0)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0 else { return false }
        let descriptorFlags = fcntl(descriptor, F_GETFD, 0)
        guard descriptorFlags >= 0, fcntl(descriptor, F_SETFD, descriptorFlags | FD_CLOEXEC) == 0 else { return false }
        var one: Int32 = 1
        if isTCP { _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size)) }
        #if canImport(Darwin)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_NOSIGPIPE, &one, socklen_t(MemoryLayout<Int32>.size))
        #endif
        return true
    }

    /// Sends as much of `bytes` as the socket takes: the bytes sent, 0 when it would block (or
    /// was interrupted), or `-errno` on failure. Never raises SIGPIPE.
    package static func send(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Int {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return 0 }
        #if canImport(Darwin)
        let sent = Darwin.send(descriptor, base, bytes.count, sendFlags)
        #else
        let sent = Glibc.send(descriptor, base, bytes.count, sendFlags)
        #endif
        if sent >= 0 { return sent }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return 0 }
        return -Int(code)
    }

    /// Receives into `buffer`: the bytes received, 0 at the end of the stream, `nil` when it
    /// would block (or was interrupted), or `-errno` on failure.
    package static func receive(_ descriptor: Int32, into buffer: UnsafeMutableRawBufferPointer) -> Int? {
        guard let base = buffer.baseAddress else { return nil }
        let count = recv(descriptor, base, buffer.count, 0)
        if count >= 0 { return count }
        let code = errno
        if code == EAGAIN || code == EWOULDBLOCK || code == EINTR { return nil }
        return -Int(code)
    }

    /// Waits up to `milliseconds` (-1: forever) for `events` on each descriptor; returns the events
    /// that occurred, one per descriptor (all 0 on timeout). Interrupted waits are resumed.
    package static func poll(_ watched: [(descriptor: Int32, events: Int16)], milliseconds: Int32) -> [Int16] {
        var descriptors = watched.map { pollfd(fd: $0.descriptor, events: $0.events, revents: 0) }
        while true {
            #if canImport(Darwin)
            let count = Darwin.poll(&descriptors, nfds_t(descriptors.count), milliseconds)
            #else
            let count = Glibc.poll(&descriptors, nfds_t(descriptors.count), milliseconds)
            #endif
            if count < 0, errno == EINTR { continue }
            return descriptors.map(\.revents)
        }
    }

    /// Milliseconds on the monotonic clock.
    package static func monotonicMilliseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

/// A pipe that wakes a thread blocked in `poll`: one side signals, the polling side drains.
/// Both ends are non-blocking and close-on-exec; ``close()`` ends both.
package struct WakePipe: Sendable {
    /// The end to poll for `POLLIN`.
    package let readDescriptor: Int32
    /// The end ``signal()`` writes to.
    package let writeDescriptor: Int32

    /// A new pipe; `nil` when the system has no descriptor to spare.
    package init?() {
        var ends: [Int32] = [0, 0]
        guard pipe(&ends) == 0 else { return nil }
        for end in ends { _ = SocketCalls.configureStream(end, isTCP: false) }
        readDescriptor = ends[0]
        writeDescriptor = ends[1]
    }

    /// Wakes the poller (a full pipe already will).
    package func signal() {
        var byte: UInt8 = 1
        #if canImport(Darwin)
        _ = Darwin.write(writeDescriptor, &byte, 1)
        #else
        _ = Glibc.write(writeDescriptor, &byte, 1)
        #endif
    }

    /// Empties the pipe, after a wake-up.
    package func drain() {
        var scratch = [UInt8](repeating: 0, count: 256)
        #if canImport(Darwin)
        while Darwin.read(readDescriptor, &scratch, scratch.count) > 0 {}
        #else
        while Glibc.read(readDescriptor, &scratch, scratch.count) > 0 {}
        #endif
    }

    /// Closes both ends.
    package func close() {
        #if canImport(Darwin)
        _ = Darwin.close(readDescriptor)
        _ = Darwin.close(writeDescriptor)
        #else
        _ = Glibc.close(readDescriptor)
        _ = Glibc.close(writeDescriptor)
        #endif
    }
}
