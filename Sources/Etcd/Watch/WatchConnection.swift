import Synchronization

/// One watch stream on one member, already acknowledged by etcd (`created`).
struct WatchConnection: Sendable {
    /// The streamed parts after the `created` message.
    let parts: AsyncThrowingStream<StreamPart, any Error>
    /// Closes the connection.
    let cancel: @Sendable () -> Void
    /// The endpoint it streams from.
    let endpoint: Int
    /// The store's revision when etcd created the watch (the earliest, for several ranges).
    let createdRevision: Revision
    /// Events that arrived before every range's watch was acknowledged.
    let earlyEvents: [WatchEvent]
}

extension EtcdClient {
    /// Opens a watch stream on some member and waits for etcd's `created` acknowledgement.
    ///
    /// Tries other members after a connection failure, and logs in again once when the token is
    /// rejected, all within `deadline`.
    func openWatchConnection(
        _ ranges: [KeyRange], options: WatchOptions, startRevision: Revision?, control: WatchControl,
        deadline: ContinuousClock.Instant
    ) async throws -> WatchConnection {
        var filters: [String] = []
        if options.excluding.contains(.put) { filters.append("NOPUT") }
        if options.excluding.contains(.delete) { filters.append("NODELETE") }
        // One create request per range, concatenated: the gateway reads successive JSON objects.
        var body: [UInt8] = []
        for keys in ranges {
            let request = WireWatchRequest(
                create_request: WireWatchCreateRequest(
                    key: WireBytes(keys.key.bytes), range_end: keys.end.map { WireBytes($0.bytes) },
                    start_revision: startRevision.map { WireInt64($0.rawValue) }, progress_notify: nil,
                    filters: filters.isEmpty ? nil : filters, prev_kv: options.includePrevious ? true : nil))
            body += try WireCoding.encode(request)
        }
        let keys = ranges.map(\.description).joined(separator: ", ")
        var attempts = 0
        var hasRefreshedToken = false
        while true {
            if Task.isCancelled || control.isCancelled {
                throw EtcdError(code: .cancelled, message: "the watch of \(keys) was cancelled")
            }
            attempts += 1
            let endpoint = selector.pick()
            let token = try await authToken(deadline: deadline)
            requestCounter.add(1, ordering: .relaxed)
            let handle = transport.openStream(
                HTTPRequest(path: "/v3/watch", body: body, authorization: token, requiresLeader: true),
                to: endpoint, deadline: deadline)
            do {
                let (createdRevision, earlyEvents) = try await Self.awaitCreated(handle.parts, count: ranges.count)
                return WatchConnection(
                    parts: handle.parts, cancel: handle.cancel, endpoint: endpoint, createdRevision: createdRevision,
                    earlyEvents: earlyEvents)
            } catch let error as EtcdError {
                handle.cancel()
                if error.code == .unauthenticated, token != nil, !hasRefreshedToken {
                    hasRefreshedToken = true
                    tokens.invalidate(token)
                    attempts -= 1
                    continue
                }
                guard error.code == .unavailable || error.code == .noLeader, attempts < configuration.retry.maximumAttempts,
                    ContinuousClock.now < deadline
                else { throw error }
                selector.markFailed(endpoint)
                try await backOff(
                    ifEveryMemberWasTried: attempts >= endpoints.count, attempts: attempts, deadline: deadline,
                    failure: error, what: "the watch of \(keys)")
            } catch let error as TransportError {
                handle.cancel()
                let mapped = mapTransportError(error, path: "/v3/watch", endpoint: endpoint)
                guard error.kind == .connectFailed || error.kind == .connectionClosed || error.kind == .timedOut,
                    attempts < configuration.retry.maximumAttempts, ContinuousClock.now < deadline
                else { throw mapped }
                selector.markFailed(endpoint)
                try await backOff(
                    ifEveryMemberWasTried: attempts >= endpoints.count, attempts: attempts, deadline: deadline,
                    failure: mapped, what: "the watch of \(keys)")
            }
        }
    }

    /// Reads a watch stream until etcd acknowledged all `count` watches; returns the earliest
    /// revision they were created at and any events that arrived in between, or throws the typed
    /// error etcd answered with.
    private static func awaitCreated(_ stream: AsyncThrowingStream<StreamPart, any Error>, count: Int) async throws
        -> (Revision, [WatchEvent])
    {
        var iterator = stream.makeAsyncIterator()
        var status = 0
        var acknowledged = 0
        var earliest: Revision?
        var earlyEvents: [WatchEvent] = []
        while let part = try await iterator.next() {
            switch part {
            case .head(let head):
                status = head.status
            case .line(let line):
                guard status == 200 else { throw WireErrorMapping.error(httpStatus: status, body: line) }
                switch try WatchMessage(line: line) {
                case .created(let revision):
                    acknowledged += 1
                    earliest = Swift.min(earliest ?? revision, revision)
                    if acknowledged == count, let earliest { return (earliest, earlyEvents) }
                case .failed(let error):
                    throw error
                case .events(let events):
                    earlyEvents += events
                case .progress:
                    continue
                }
            }
        }
        if status != 200 && status != 0 {
            throw WireErrorMapping.error(httpStatus: status, body: [])
        }
        throw EtcdError(code: .unavailable, message: "the watch stream ended before etcd acknowledged it")
    }
}
