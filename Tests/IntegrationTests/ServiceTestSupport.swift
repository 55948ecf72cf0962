import Etcd
import EtcdLockService
import EtcdTestSupport
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// One replica of the lock service in this process: its own client, service and server.
struct ServiceReplica: Sendable {
    let port: Int
    let service: LockService
    let server: HTTPServer
}

/// Runs `body` with `count` replicas listening on 127.0.0.1 (ports the system picks), each with a
/// client of its own, and shuts them down afterwards.
func withReplicas(
    _ count: Int, tokens: AccessTokens? = nil, requestTimeout: Duration = .seconds(10),
    server configure: @escaping @Sendable (inout HTTPServer.Configuration) -> Void = { _ in },
    _ body: @escaping @Sendable ([ServiceReplica]) async throws -> Void
) async throws {
    func start(_ index: Int, _ replicas: [ServiceReplica]) async throws {
        guard index < count else {
            try await body(replicas)
            return
        }
        try await TestEnvironment.withClient { client in
            let service = LockService(client: client, configuration: LockService.Configuration(tokens: tokens))
            var configuration = HTTPServer.Configuration(host: "127.0.0.1", port: 0)
            configuration.requestTimeout = requestTimeout
            configure(&configuration)
            let server = try HTTPServer(configuration, handler: service.handle)
            do {
                try await start(index + 1, replicas + [ServiceReplica(port: server.port, service: service, server: server)])
            } catch {
                await server.shutdown()
                throw error
            }
            await server.shutdown()
        }
    }
    try await start(0, [])
}

/// How many keys live under the namespace's locks of every kind, straight from etcd.
func keyCount(_ namespace: String) async throws -> Int64 {
    try await TestEnvironment.withClient { client in
        try await client.range(RangeRequest(.prefix(EtcdKey("/etcdlock/\(namespace)/")), countOnly: true)).count
    }
}

/// An HTTP answer as a test sees it.
struct HTTPAnswer: Sendable {
    var status: Int
    var head: String
    var body: String
    /// The body as a JSON object (empty when it is not one).
    var json: [String: JSONField] { JSONField.object(body) }
}

/// A JSON value, Sendable, for assertions.
enum JSONField: Sendable, Equatable {
    case number(Int64), decimal(Double), string(String), bool(Bool), null, object([String: JSONField]), array([JSONField]), other

    static func object(_ text: String) -> [String: JSONField] {
        guard let object = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else { return [:] }
        return object.mapValues(JSONField.init)
    }

    init(_ value: Any) {
        switch value {
        case let number as NSNumber:
            self = number.doubleValue == Double(number.int64Value) ? .number(number.int64Value) : .decimal(number.doubleValue)
        case let string as String: self = .string(string)
        case is NSNull: self = .null
        case let object as [String: Any]: self = .object(object.mapValues(JSONField.init))
        case let array as [Any]: self = .array(array.map(JSONField.init))
        default: self = .other
        }
    }

    var int: Int64? { if case .number(let value) = self { value } else { nil } }
    /// A number, whole or not.
    var double: Double? {
        switch self {
        case .number(let value): Double(value)
        case .decimal(let value): value
        default: nil
        }
    }
    var text: String? { if case .string(let value) = self { value } else { nil } }
    subscript(_ key: String) -> JSONField? { if case .object(let fields) = self { fields[key] } else { nil } }
    var array: [JSONField] { if case .array(let values) = self { values } else { [] } }
}

/// A blocking HTTP/1.1 connection to 127.0.0.1, used from threads of its own (never from a Swift
/// concurrency thread: a long-poll would block one).
final class TestConnection: Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var timeout = timeval(tv_sec: 30, tv_usec: 0)
        _ = setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw TestEnvironmentError(description: "cannot connect to port \(port)")
        }
    }

    deinit { close(descriptor) }

    /// Sends all of `bytes`; returns whether it could (`false`: the connection was reset).
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// Closes the connection now (a caller that goes away).
    func abort() { shutdown(descriptor, Int32(SHUT_RDWR)) }

    /// Shuts down the sending side only, as some clients do once their request is sent; the
    /// answer can still be read.
    func halfClose() { shutdown(descriptor, Int32(SHUT_WR)) }

    /// Reads one final response (Content-Length framed), skipping interim `1xx` ones as HTTP/1.1
    /// clients must; `nil` when the connection ended first.
    func readResponse() -> HTTPAnswer? {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if let end = find(bytes), let head = String(validating: bytes[..<end], as: UTF8.self) {
                let length = head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
                    .flatMap { Int($0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) } ?? 0
                let status = Int(head.split(separator: " ")[1]) ?? 0
                if (100..<200).contains(status) {
                    bytes.removeFirst(end + 4)
                    continue
                }
                if bytes.count >= end + 4 + length {
                    let body = String(decoding: bytes[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    return HTTPAnswer(status: status, head: head, body: body)
                }
            }
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, 65536, 0) }
            guard count > 0 else { return nil }
            bytes += buffer[..<count]
        }
    }

    /// Whether the server closed the connection (reads end of stream).
    func isClosedByPeer() -> Bool {
        var byte: UInt8 = 0
        return recv(descriptor, &byte, 1, 0) <= 0
    }

    private func find(_ bytes: [UInt8]) -> Int? {
        guard bytes.count >= 4 else { return nil }
        for index in 0...(bytes.count - 4) where bytes[index] == 13 && bytes[index + 1] == 10 && bytes[index + 2] == 13 && bytes[index + 3] == 10 {
            return index
        }
        return nil
    }
}

/// Runs blocking `work` on a thread of its own and returns its result.
func onThread<Result: Sendable>(_ work: @escaping @Sendable () throws -> Result) async throws -> Result {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Swift.Result { try work() }) }.start()
    }
}

/// Sends one request on a new connection and reads the answer.
func request(
    _ port: Int, _ method: String, _ path: String, body: String? = nil, token: String? = nil
) async throws -> HTTPAnswer {
    try await onThread {
        let connection = try TestConnection(port: port)
        var head = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        if let body { head += "Content-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n" }
        connection.send(Array((head + "\r\n" + (body ?? "")).utf8))
        guard let answer = connection.readResponse() else { throw TestEnvironmentError(description: "no answer to \(method) \(path)") }
        return answer
    }
}
