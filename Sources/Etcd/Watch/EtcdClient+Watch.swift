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
        try keys.validate()
        let control = WatchControl()
        let connection = try await openWatchConnection(
            keys, options: options, startRevision: options.startRevision, control: control,
            deadline: try deadline(for: timeout))
        control.attach(connection.cancel)
        let start = options.startRevision ?? connection.createdRevision.next
        return EtcdWatch(
            keys: keys, startRevision: start, options: options, client: self, connection: connection,
            control: control)
    }
}
