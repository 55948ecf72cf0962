/// One watch stream on one member, already acknowledged by etcd (`created`).
struct WatchConnection: Sendable {
    /// The streamed parts after the `created` message.
    let parts: AsyncThrowingStream<StreamPart, any Error>
    /// Closes the connection.
    let cancel: @Sendable () -> Void
    /// The endpoint it streams from.
    let endpoint: Int
    /// The store's revision when etcd created the watch.
    let createdRevision: Revision
}

extension EtcdClient {
    /// Opens a watch stream on some member and waits for etcd's `created` acknowledgement.
    ///
    /// Tries other members after a connection failure, and logs in again once when the token is
    /// rejected, all within `deadline`.
    func openWatchConnection(
        _ keys: KeyRange, options: WatchOptions, startRevision: Revision?, control: WatchControl,
        deadline: ContinuousClock.Instant
    ) async throws -> WatchConnection {
        var filters: [String] = []
        if options.excluding.contains(.put) { filters.append("NOPUT") }
        if options.excluding.contains(.delete) { filters.append("NODELETE") }
        let request = WireWatchRequest(
            create_request: WireWatchCreateRequest(
                key: WireBytes(keys.key.bytes), range_end: keys.end.map { WireBytes($0.bytes) },
                start_revision: startRevision.map { WireInt64($0.rawValue) }, progress_notify: nil,
                filters: filters.isEmpty ? nil : filters, prev_kv: options.includePrevious ? true : nil))
        let body = try WireCoding.encode(request)
        var attempts = 0
        var hasRefreshedToken = false
        while true {
            if Task.isCancelled || control.isCancelled {
                throw EtcdError(code: .cancelled, message: "the watch of \(keys) was cancelled")
            }
            attempts += 1
            let endpoint = selector.pick()
            let token = try await authToken(deadline: deadline)
            let handle = transport.openStream(
                HTTPRequest(path: "/v3/watch", body: body, authorization: token, requiresLeader: true),
                to: endpoint, deadline: deadline)
            do {
                let createdRevision = try await Self.awaitCreated(handle.parts, path: "/v3/watch")
                return WatchConnection(
                    parts: handle.parts, cancel: handle.cancel, endpoint: endpoint, createdRevision: createdRevision)
            } catch let error as EtcdError {
                handle.cancel()
                if error.code == .unauthenticated, token != nil, !hasRefreshedToken {
                    hasRefreshedToken = true
                    tokens.invalidate(token)
                    attempts -= 1
                    continue
                }
                guard error.code == .unavailable || error.code == .noLeader, attempts < configuration.retry.maximumAttempts
                else { throw error }
                selector.markFailed(endpoint)
                let wait = configuration.retry.backoff(beforeRetry: attempts)
                guard ContinuousClock.now + wait < deadline else { throw error }
                if attempts >= endpoints.count {
                    do { try await Task.sleep(for: wait) } catch {
                        throw EtcdError(code: .cancelled, message: "the watch of \(keys) was cancelled")
                    }
                }
            } catch let error as TransportError {
                handle.cancel()
                let mapped = mapTransportError(error, path: "/v3/watch", endpoint: endpoint)
                guard error.kind == .connectFailed || error.kind == .connectionClosed || error.kind == .timedOut,
                    attempts < configuration.retry.maximumAttempts, ContinuousClock.now < deadline
                else { throw mapped }
                selector.markFailed(endpoint)
                if attempts >= endpoints.count {
                    let wait = configuration.retry.backoff(beforeRetry: attempts)
                    guard ContinuousClock.now + wait < deadline else { throw mapped }
                    do { try await Task.sleep(for: wait) } catch {
                        throw EtcdError(code: .cancelled, message: "the watch of \(keys) was cancelled")
                    }
                }
            }
        }
    }

    /// Reads the head and the first message of a watch stream; returns the revision etcd created
    /// the watch at, or throws the typed error etcd answered with.
    private static func awaitCreated(_ stream: AsyncThrowingStream<StreamPart, any Error>, path: String) async throws
        -> Revision
    {
        var iterator = stream.makeAsyncIterator()
        var status = 0
        while let part = try await iterator.next() {
            switch part {
            case .head(let head):
                status = head.status
            case .line(let line):
                guard status == 200 else { throw WireErrorMapping.error(httpStatus: status, body: line) }
                let message = try WatchMessage(line: line)
                switch message {
                case .created(let revision): return revision
                case .failed(let error): throw error
                case .events, .progress:
                    throw EtcdError(code: .invalidResponse, message: "the first watch message was not `created`")
                }
            }
        }
        if status != 200 && status != 0 {
            throw WireErrorMapping.error(httpStatus: status, body: [])
        }
        throw EtcdError(code: .unavailable, message: "the watch stream ended before etcd acknowledged it")
    }
}
