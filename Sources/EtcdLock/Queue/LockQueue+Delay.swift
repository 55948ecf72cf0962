import Etcd

extension LockQueue {
    /// Run once the rule admits an entry: waits until no other holder's lock-delay marker stands
    /// (a holder whose session was lost), then, for an exclusive entry, records its own marker,
    /// only while its key is still the one created at `revision` (see ``LockDelay``).
    ///
    /// - Parameter mayWait: `false` for a try-acquire: report a standing marker instead of waiting.
    /// - Returns: whether the entry may hold now (`false` only when it may not wait).
    /// - Throws: ``LockError`` `.timeout` at `deadline`, `.sessionLost`, `.ownershipLost`,
    ///   `.cancelled`; ``EtcdError``.
    func passLockDelay(
        _ delay: DelayMarker, of entry: Entry, revision: Revision, mayWait: Bool, deadline: ContinuousClock.Instant?
    ) async throws -> Bool {
        let token = Array(String(revision.rawValue).utf8)
        let markerLease = delay.recordsOwn ? try await session.markerLease(for: delay.delay) : nil
        let reads: [Txn.Operation] = [.range(RangeRequest(.key(delay.key))), .range(RangeRequest(.key(entry.key), keysOnly: true))]
        while true {
            try checkNotCancelled()
            try session.checkValid()
            let txn =
                if let markerLease {
                    Txn(
                        if: [.createRevision(of: entry.key, .equal, revision), .createRevision(of: delay.key, .equal, .zero)],
                        then: [.put(delay.key, value: token, lease: markerLease)],
                        else: reads)
                } else {
                    Txn(then: reads)
                }
            let result = try await store.txn(txn, retry: .idempotent, timeout: nil)
            if markerLease != nil, result.succeeded { return true }
            guard result.responses.count == 2, case .range(let marker) = result.responses[0],
                case .range(let mine) = result.responses[1]
            else { throw EtcdError(code: .invalidResponse, message: "a lock-delay read answered unexpectedly") }
            guard mine.keyValues.first?.createRevision == revision else { throw keyGone(entry.key) }
            guard let standing = marker.keyValues.first else {
                // Gone between the compare and the read, or none for a reader.
                if markerLease == nil { return true }
                continue
            }
            if standing.value == token { return true }  // this entry's own, from a retried write
            guard mayWait else { return false }
            try checkDeadline(deadline)
            try await waitForExpiry(of: standing, entry: entry, deadline: deadline)
        }
    }

    /// Waits until the marker `standing` is deleted (its lease expires), the entry's key goes,
    /// the session is lost, or `deadline` passes.
    private func waitForExpiry(of standing: KeyValue, entry: Entry, deadline: ContinuousClock.Instant?) async throws {
        let blocker = Blocker(watched: .key(standing.key), seen: [standing.createRevision])
        let watch = try await store.watch(
            [blocker.watched, .key(entry.key)], options: WatchOptions(excluding: [.put]), timeout: remaining(until: deadline))
        defer { watch.cancel() }
        // Look again now that the watch listens: it may have expired in between.
        let again = try await store.range(RangeRequest(.key(standing.key), keysOnly: true), timeout: nil)
        guard again.keyValues.first?.createRevision == standing.createRevision else { return }
        switch try await waitForChange(on: watch, of: entry.key, blocker: blocker, deadline: deadline) {
        case .ownKeyDeleted: throw keyGone(entry.key)
        case .changed, .watchEnded: return
        case .sessionLost(let reason):
            throw LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting: \(reason)")
        case .deadlinePassed:
            throw LockError(code: .timeout, message: "\(name) was not acquired in time (a lost holder's lock-delay)")
        }
    }

    /// The marker key of the lock-delay of the recipe `kind` named `name` in `namespace`:
    /// `/etcdlock/<namespace>/<kind>-delay/<name>`, outside every queue's prefix.
    static func delayMarkerKey(namespace: String, kind: RecipeKind, name: String) throws -> EtcdKey {
        let queuePrefix = try LockName.prefix(namespace: namespace, kind: "\(kind.rawValue)-delay", name: name)
        return EtcdKey(String(queuePrefix.description.dropLast()))
    }
}
