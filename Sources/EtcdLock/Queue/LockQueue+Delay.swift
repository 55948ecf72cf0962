import Etcd

extension LockQueue {
    /// Run once the rule admits an entry: waits out another holder's lock-delay marker, then, for
    /// an exclusive entry, records its own marker, only while its key is still the one created at
    /// `revision` (see ``LockDelay``).
    ///
    /// A marker that is not this entry's own belongs to a holder that left without releasing:
    /// the rule admitted this entry, so that holder's key is gone (its session was lost, or an
    /// administrator deleted it). The marker stops counting when its lease expires (the lost
    /// session's TTL plus the delay) or once the delay has passed since this entry first saw it,
    /// whichever comes first: a holder whose key was deleted while its session lives on keeps
    /// renewing the marker's lease, and must not block the lock for the session's lifetime. An
    /// exclusive entry then takes the marker over, only if it is still the one it waited out.
    ///
    /// - Parameter mayWait: `false` for a try-acquire: report a standing marker instead of waiting.
    /// - Returns: `nil` when the entry may hold now; the standing marker when it may not wait.
    /// - Throws: ``LockError`` `.timeout` at `deadline`, `.sessionLost`, `.ownershipLost`,
    ///   `.cancelled`; ``EtcdError``.
    func passLockDelay(
        _ delay: DelayMarker, of entry: Entry, revision: Revision, mayWait: Bool, deadline: ContinuousClock.Instant?
    ) async throws -> KeyValue? {
        let token = Self.markerValue(revision)
        let markerLease = delay.recordsOwn ? try await session.markerLease(for: delay.delay) : nil
        let reads: [Txn.Operation] = [.range(RangeRequest(.key(delay.key))), .range(RangeRequest(.key(entry.key), keysOnly: true))]
        // The foreign marker being waited out: its last write, and when it stops counting for
        // this entry (the delay after this entry first saw it).
        var waitedOut: (modRevision: Revision, over: ContinuousClock.Instant)?
        while true {
            try checkNotCancelled()
            try session.checkValid()
            let markerCompare: Txn.Compare =
                if let waitedOut, ContinuousClock.now >= waitedOut.over {
                    .modRevision(of: delay.key, .equal, waitedOut.modRevision)
                } else {
                    .createRevision(of: delay.key, .equal, .zero)
                }
            let txn =
                if let markerLease {
                    Txn(
                        if: [.createRevision(of: entry.key, .equal, revision), markerCompare],
                        then: [.put(delay.key, value: token, lease: markerLease)],
                        else: reads)
                } else {
                    Txn(then: reads)
                }
            // Not cancelled midway: a marker written without its answer would outlive the entry.
            // A cancelled caller withdraws the entry and its marker together right after.
            let store = self.store
            let result = try await finishEvenIfCancelled { try await store.txn(txn, retry: .idempotent, timeout: nil) }
            if markerLease != nil, result.succeeded { return nil }
            guard result.responses.count == 2, case .range(let marker) = result.responses[0],
                case .range(let mine) = result.responses[1]
            else { throw EtcdError(code: .invalidResponse, message: "a lock-delay read answered unexpectedly") }
            guard mine.keyValues.first?.createRevision == revision else { throw keyGone(entry.key) }
            guard let standing = marker.keyValues.first else {
                // Gone between the compare and the read, or none for a reader.
                if markerLease == nil { return nil }
                waitedOut = nil
                continue
            }
            if standing.value == token { return nil }  // this entry's own, from a retried write
            if waitedOut?.modRevision != standing.modRevision { waitedOut = (standing.modRevision, .now + delay.delay) }
            let over = waitedOut!.over
            if ContinuousClock.now >= over {
                // Waited out: a reader goes ahead; an exclusive entry takes the marker over.
                if markerLease == nil { return nil }
                continue
            }
            guard mayWait else { return standing }
            try checkDeadline(deadline)
            try await waitForExpiry(of: standing, entry: entry, until: over, deadline: deadline)
        }
    }

    /// The holder a standing marker stands for, as a try-acquire reports it: the lost hold whose
    /// token the marker records.
    static func lostHolder(markedBy marker: KeyValue) -> KeyValue {
        KeyValue(
            key: marker.key, value: Array("lock-delay of a holder that was lost (token \(marker.valueString))".utf8),
            createRevision: Revision(Int64(marker.valueString) ?? 0), modRevision: marker.modRevision,
            version: marker.version, lease: marker.lease)
    }

    /// A marker's value: the token of the hold that wrote it.
    static func markerValue(_ revision: Revision) -> [UInt8] { Array(String(revision.rawValue).utf8) }

    /// Waits until the marker `standing` is deleted (its lease expires) or `over` passes, the
    /// entry's key goes, the session is lost, or `deadline` passes.
    private func waitForExpiry(
        of standing: KeyValue, entry: Entry, until over: ContinuousClock.Instant, deadline: ContinuousClock.Instant?
    ) async throws {
        let blocker = Blocker(watched: .key(standing.key), seen: [standing.createRevision])
        let watch = try await store.watch(
            [blocker.watched, .key(entry.key)], options: WatchOptions(excluding: [.put]), timeout: remaining(until: deadline))
        defer { watch.cancel() }
        // Look again now that the watch listens: it may have expired in between.
        let again = try await store.range(RangeRequest(.key(standing.key), keysOnly: true), timeout: nil)
        guard again.keyValues.first?.createRevision == standing.createRevision else { return }
        switch try await waitForChange(on: watch, of: entry.key, blocker: blocker, deadline: min(over, deadline ?? over)) {
        case .ownKeyDeleted: throw keyGone(entry.key)
        case .changed, .watchEnded: return
        case .sessionLost(let reason):
            throw LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting: \(reason)")
        case .deadlinePassed:
            if let deadline, ContinuousClock.now >= deadline {
                throw LockError(code: .timeout, message: "\(name) was not acquired in time (a lost holder's lock-delay)")
            }
        }
    }

    /// The marker key of the lock-delay of the recipe `kind` named `name` in `namespace`:
    /// `/etcdlock/<namespace>/<kind>-delay/<name>`, outside every queue's prefix.
    static func delayMarkerKey(namespace: String, kind: RecipeKind, name: String) throws -> EtcdKey {
        let queuePrefix = try LockName.prefix(namespace: namespace, kind: "\(kind.rawValue)-delay", name: name)
        return EtcdKey(String(queuePrefix.description.dropLast()))
    }
}
