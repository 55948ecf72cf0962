import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A loopback TCP listener that answers each connection with scripted bytes, to inject transport
/// faults etcd itself never produces on demand (a non-JSON body, a truncated chunked body, a
/// connection closed mid-response, silence). It is not an etcd: it only plays back bytes.
public final class ScriptedHTTPPeer: Sendable {
    /// What the peer does with one connection after reading the request.
    public enum Reply: Sendable {
        /// Writes these bytes, then closes the connection.
        case bytesThenClose(String)
        /// Writes these bytes and keeps the connection open without answering further.
        case bytesThenHang(String)
        /// Resets each connection (RST) as soon as it is accepted, without reading (the first bytes
        /// a client sends, a TLS ClientHello say, meet a reset).
        case resetAtOnce
    }

    /// The URL clients connect to.
    public let url: String
    private let listener: Int32

    /// Starts listening on a free loopback port; each accepted connection gets `reply`.
    public init(reply: Reply) throws {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw TestEnvironmentError(description: "socket failed") }
        var one: Int32 = 1
        setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(descriptor, 16) == 0 else {
            close(descriptor)
            throw TestEnvironmentError(description: "bind/listen failed")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        listener = descriptor
        url = "http://127.0.0.1:\(UInt16(bigEndian: address.sin_port))"
        let thread = Thread {
            var held: [Int32] = []
            while true {
                let connection = accept(descriptor, nil, nil)
                if connection < 0 { break }
                switch reply {
                case .resetAtOnce:
                    var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                    setsockopt(connection, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                    close(connection)
                    continue
                default:
                    break
                }
                Self.readRequest(connection)
                switch reply {
                case .bytesThenClose(let text):
                    Self.write(text, to: connection)
                    close(connection)
                case .bytesThenHang(let text):
                    Self.write(text, to: connection)
                    held.append(connection)
                case .resetAtOnce:
                    break
                }
            }
            for connection in held { close(connection) }
        }
        thread.start()
    }

    /// Stops accepting; connections it holds are closed.
    public func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func readRequest(_ connection: Int32) {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        // Read until the head and the declared body arrived.
        while true {
            let count = recv(connection, &buffer, buffer.count, 0)
            if count <= 0 { return }
            received.append(contentsOf: buffer[0..<count])
            let text = String(decoding: received, as: UTF8.self)
            guard let headEnd = text.range(of: "\r\n\r\n") else { continue }
            let head = text[..<headEnd.lowerBound].lowercased()
            let length = head.split(separator: "\r\n")
                .first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            if text.utf8.count - text.utf8.distance(from: text.startIndex, to: headEnd.upperBound) >= length { return }
        }
    }

    private static func write(_ text: String, to connection: Int32) {
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { send(connection, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if written <= 0 { return }
            offset += written
        }
    }
}
