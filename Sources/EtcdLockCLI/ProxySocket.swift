import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The few blocking loopback socket calls ``FaultProxy`` needs.
enum ProxySocket {
    #if canImport(Darwin)
    private static let streamType = SOCK_STREAM
    private static let sendFlags: Int32 = 0
    #else
    private static let streamType = Int32(SOCK_STREAM.rawValue)
    private static let sendFlags = Int32(MSG_NOSIGNAL)
    #endif

    /// A socket that cannot be set up.
    struct SetupError: Error, CustomStringConvertible {
        var description: String
    }

    /// A listening socket on an ephemeral port of 127.0.0.1.
    static func listenOnLoopback() throws -> (fd: Int32, port: UInt16) {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { throw SetupError(description: "socket: errno \(errno)") }
        setCloseOnExec(fd)
        var address = loopback(port: 0)
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 128) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else {
            close(fd)
            throw SetupError(description: "cannot listen on 127.0.0.1: errno \(errno)")
        }
        return (fd, UInt16(bigEndian: address.sin_port))
    }

    /// A connected socket to 127.0.0.1:`port` with Nagle off; `nil` when the connect fails.
    static func connectToLoopback(port: UInt16) -> Int32? {
        let fd = socket(AF_INET, streamType, 0)
        guard fd >= 0 else { return nil }
        setCloseOnExec(fd)
        var one: Int32 = 1
        _ = setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = loopback(port: port)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
            }
        }
        guard connected else {
            close(fd)
            return nil
        }
        return fd
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }

    /// Writes all `count` bytes; `false` when the peer is gone.
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Bool {
        var written = 0
        while written < count {
            let result = send(fd, bytes + written, count - written, sendFlags)
            if result < 0, errno == EINTR { continue }
            guard result > 0 else { return false }
            written += result
        }
        return true
    }

    /// Makes `close` send a reset instead of a FIN.
    static func setResetOnClose(_ fd: Int32) {
        var option = linger()
        option.l_onoff = 1
        option.l_linger = 0
        _ = setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
    }

    /// Keeps `fd` out of the client processes the verifier spawns.
    static func setCloseOnExec(_ fd: Int32) {
        _ = fcntl(fd, F_SETFD, fcntl(fd, F_GETFD, 0) | FD_CLOEXEC)
    }

    /// Resets and closes a connection that is in no table.
    static func abortAndClose(_ fd: Int32) {
        setResetOnClose(fd)
        closeDescriptor(fd)
    }

    /// Closes `fd`.
    static func closeDescriptor(_ fd: Int32) { _ = close(fd) }

    /// Runs `body` on a new thread (the proxy's connections end when their sockets do).
    static func thread(_ body: @escaping @Sendable () -> Void) {
        let thread = Thread(block: body)
        thread.stackSize = 256 * 1024
        thread.start()
    }
}
