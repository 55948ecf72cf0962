extension EtcdClient {
    /// Starts watching a key or range and returns once etcd has acknowledged the watch, so no
    /// change made after this call returns can be missed.
    ///
    /// - Parameters:
    ///   - keys: the key or range to watch.
    ///   - options: where to start and what to report; by default only future changes.
    ///   - timeout: the deadline for etcd's acknowledgement (and for each later resumption).
    /// - Throws: ``EtcdError`` `.compacted` (with ``EtcdError/compactRevision``) when
    ///   `startRevision` was compacted, `.invalidArgument`, `.permissionDenied`,
    ///   `.unauthenticated`, `.unavailable`, `.timeout`, `.cancelled`.
    public func watch(_ keys: KeyRange, options: WatchOptions = WatchOptions(), timeout: Duration? = nil)
        async throws -> EtcdWatch
    {
        try await watch([keys], options: options, timeout: timeout)
    }

    /// Watches several keys or ranges on one stream (one connection), as ``watch(_:options:timeout:)``
    /// does for one: events of all of them arrive in revision order.
    ///
    /// - Throws: as ``watch(_:options:timeout:)``; `.invalidArgument` when `ranges` is empty.
    public func watch(_ ranges: [KeyRange], options: WatchOptions = WatchOptions(), timeout: Duration? = nil)
        async throws -> EtcdWatch
    {
        guard !ranges.isEmpty else { throw EtcdError(code: .invalidArgument, message: "no key to watch") }
        for keys in ranges { try keys.validate() }
        let control = WatchControl()
        let deadline = try deadline(for: timeout)
        let connection = try await openWatchConnection(
            ranges, options: options, startRevision: options.startRevision, control: control, deadline: deadline)
        control.attach(connection.cancel)
        if let start = options.startRevision, start <= connection.createdRevision {
            do {
                for keys in ranges {
                    try await ensureHistoryAvailable(keys, from: start, on: connection, deadline: deadline)
                }
            } catch {
                control.cancel()
                throw error
            }
        }
        let start = options.startRevision ?? connection.createdRevision.next
        return EtcdWatch(
            ranges: ranges, startRevision: start, options: options, client: self, connection: connection,
            control: control)
    }
}

extension EtcdClient {
    /// Throws `.compacted` now, rather than at the first `next()`, when a watch starts at a
    /// revision etcd has compacted away.
    ///
    /// etcd acknowledges such a watch with `created` and reports the compaction only from its
    /// 100 ms catch-up loop. A count-only read at the start revision fails at once in that case;
    /// the stream's own cancel message then supplies the compact revision.
    private func ensureHistoryAvailable(
        _ keys: KeyRange, from start: Revision, on connection: WatchConnection, deadline: ContinuousClock.Instant
    ) async throws {
        let probe = RangeRequest(keys, limit: 1, revision: start, consistency: .serializable, countOnly: true)
        let remaining = ContinuousClock.now.duration(to: deadline)
        do {
            _ = try await range(probe, timeout: max(remaining, .milliseconds(1)))
            return
        } catch let error as EtcdError where error.code == .compacted {
            var iterator = connection.parts.makeAsyncIterator()
            while let part = try await iterator.next() {
                guard case .line(let line) = part, case .failed(let cancel) = try WatchMessage(line: line) else { continue }
                throw cancel
            }
            throw error
        }
    }
}
