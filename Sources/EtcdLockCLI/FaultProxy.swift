import LockVerification
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a ``FaultProxy`` treats the traffic of its link at the moment.
enum LinkMode: Sendable, Equatable {
    /// Forward both ways.
    case pass
    /// Accept connections and bytes, answer nothing: bytes are held (as TCP holds unacknowledged
    /// segments during a partition) and delivered when the link heals, even when the client
    /// gave up meanwhile; new connections reach the member only then.
    case blackhole
    /// Deliver every chunk this late, each way.
    case delay(Duration)
    /// Reset every connection, and every new one at once.
    case reset
    /// Deliver requests, drop responses and then reset the connection: the client cannot tell
    /// whether its write applied.
    case dropResponses
}

/// A fault-injecting TCP proxy on a loopback port in front of one etcd member, for one client.
///
/// Thread per connection and direction, blocking sockets: simple, and the verifier's load is
/// a few dozen connections. The nemesis switches the ``mode``; a connection's threads read it
/// before they pass on each chunk. File descriptors are closed only by the last thread of a
/// connection, after it left the table, so nobody else ever touches a closed descriptor.
final class FaultProxy: Sendable {
    /// The loopback port clients connect to.
    let port: UInt16
    private let listener: Int32
    private let upstream: UInt16
    private let state = Mutex(State())

    private struct State {
        var mode = LinkMode.pass
        var connections: [Int: ProxyConnection] = [:]
        var nextID = 0
        var isClosed = false
        /// When a client last sent bytes through (monotonic nanoseconds; 0 if never).
        var lastRequest: UInt64 = 0
    }

    /// Listens on an ephemeral loopback port and forwards to `upstreamPort` on 127.0.0.1.
    init(upstreamPort: UInt16) throws {
        upstream = upstreamPort
        let socket = try ProxySocket.listenOnLoopback()
        listener = socket.fd
        port = socket.port
        let proxy = self
        ProxySocket.thread { proxy.acceptLoop() }
    }

    /// The current mode.
    var mode: LinkMode { state.withLock { $0.mode } }

    /// When a client last sent a request through this proxy (monotonic ns; 0 if never).
    var lastRequest: UInt64 { state.withLock { $0.lastRequest } }

    /// Switches the mode; `.reset` also resets every open connection.
    func set(_ mode: LinkMode) {
        state.withLock { state in
            state.mode = mode
            if mode == .reset { for connection in state.connections.values { connection.abort() } }
        }
    }

    /// Stops listening and resets every connection.
    func close() {
        state.withLock { state in
            state.isClosed = true
            for connection in state.connections.values { connection.abort() }
        }
        _ = shutdown(listener, Int32(SHUT_RDWR))
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                break
            }
            ProxySocket.setCloseOnExec(client)
            let proxy = self
            ProxySocket.thread { proxy.serve(client) }
        }
        ProxySocket.closeDescriptor(listener)
    }

    /// Serves one accepted connection: connects to the member (when the link lets it) and pumps.
    private func serve(_ client: Int32) {
        while mode == .blackhole, !(state.withLock { $0.isClosed }) { usleep(10_000) }
        guard mode != .reset, !(state.withLock { $0.isClosed }), let member = ProxySocket.connectToLoopback(port: upstream) else {
            ProxySocket.abortAndClose(client)
            return
        }
        let connection = ProxyConnection(client: client, member: member)
        let id: Int? = state.withLock { state in
            guard !state.isClosed else { return nil }
            state.nextID += 1
            state.connections[state.nextID] = connection
            return state.nextID
        }
        guard let id else {
            connection.abort()
            connection.closeDescriptors()
            return
        }
        let proxy = self
        ProxySocket.thread { proxy.pump(connection, id: id, towardMember: false) }
        pump(connection, id: id, towardMember: true)
    }

    /// Copies one direction of `connection` until it ends, applying the mode to every chunk.
    private func pump(_ connection: ProxyConnection, id: Int, towardMember: Bool) {
        let from = towardMember ? connection.client : connection.member
        let to = towardMember ? connection.member : connection.client
        var buffer = [UInt8](repeating: 0, count: 16_384)
        var ending = Ending.endOfStream
        loop: while true {
            let count = buffer.withUnsafeMutableBytes { read(from, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            guard count > 0 else {
                ending = count == 0 ? .endOfStream : .broken
                break
            }
            if towardMember { state.withLock { $0.lastRequest = MonotonicTime.now() } }
            var mode = self.mode
            while mode == .blackhole, !connection.isAborted {
                usleep(10_000)
                mode = self.mode
            }
            if connection.isAborted { break }
            switch mode {
            case .pass, .blackhole:
                break
            case .delay(let latency):
                usleep(UInt32(latency.components.seconds * 1_000_000 + latency.components.attoseconds / 1_000_000_000_000))
                if connection.isAborted { break loop }
            case .reset:
                ending = .broken
                break loop
            case .dropResponses:
                if !towardMember {
                    ending = .broken
                    break loop
                }
            }
            guard buffer.withUnsafeBytes({ ProxySocket.writeAll(to, $0.baseAddress!, count) }) else {
                ending = .broken
                break
            }
        }
        finish(connection, id: id, towardMember: towardMember, ending: ending)
    }

    private enum Ending { case endOfStream, broken }

    /// Ends one direction: passes a clean end of stream on, resets the connection otherwise;
    /// the last direction to finish closes the descriptors.
    private func finish(_ connection: ProxyConnection, id: Int, towardMember: Bool, ending: Ending) {
        switch ending {
        case .endOfStream: _ = shutdown(towardMember ? connection.member : connection.client, Int32(SHUT_WR))
        case .broken: state.withLock { _ in connection.abort() }
        }
        guard connection.finishDirection() else { return }
        state.withLock { _ = $0.connections.removeValue(forKey: id) }
        connection.closeDescriptors()
    }
}

/// One proxied connection: the client's socket and the member's.
final class ProxyConnection: Sendable {
    let client: Int32
    let member: Int32
    private let directionsLeft = Atomic<Int>(2)
    private let aborted = Atomic<Bool>(false)

    init(client: Int32, member: Int32) {
        self.client = client
        self.member = member
    }

    /// Whether the connection was reset.
    var isAborted: Bool { aborted.load(ordering: .acquiring) }

    /// Marks the connection reset and wakes both directions (the client will see a reset when
    /// the descriptors close). Call only while the connection is in its proxy's table.
    func abort() {
        guard !aborted.exchange(true, ordering: .acquiringAndReleasing) else { return }
        ProxySocket.setResetOnClose(client)
        _ = shutdown(client, Int32(SHUT_RD))  // wakes the reader without sending a FIN
        _ = shutdown(member, Int32(SHUT_RDWR))
    }

    /// Counts one direction finished; `true` for the last.
    func finishDirection() -> Bool { directionsLeft.wrappingSubtract(1, ordering: .acquiringAndReleasing).newValue == 0 }

    /// Closes both descriptors (once both directions finished).
    func closeDescriptors() {
        ProxySocket.closeDescriptor(client)
        ProxySocket.closeDescriptor(member)
    }
}
