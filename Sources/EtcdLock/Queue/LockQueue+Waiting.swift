import Etcd

extension LockQueue {
    /// Waits until the rule admits the entry created at `revision`.
    ///
    /// - Parameter blockedBy: what blocked the entry when it was created, if known (read in its
    ///   enqueue txn): the first round watches it at once instead of reading the queue first.
    ///
    /// Rides out short etcd outages (keeping the place in line); ends with the session's loss,
    /// the entry's deletion, the deadline, or cancellation.
    ///
    /// - Throws: ``LockError`` `.sessionLost` / `.ownershipLost` when the key or session goes away,
    ///   `.timeout` at `deadline`, `.cancelled`; ``EtcdError`` for etcd failures.
    func waitForTurn(_ entry: Entry, revision: Revision, blockedBy: Blocker? = nil, deadline: ContinuousClock.Instant?) async throws {
        var pause = Duration.milliseconds(50)
        var known = blockedBy
        while true {
            try checkNotCancelled()
            try session.checkValid()
            try checkDeadline(deadline)
            do {
                defer { known = nil }
                if try await lookAndWait(entry, revision: revision, blockedBy: known, deadline: deadline) == .admitted { return }
                pause = .milliseconds(50)
            } catch let error as EtcdError where error.isOutage && !Task.isCancelled {
                // etcd unreachable for a moment (a restart, an election, a paused member): keep
                // the place in line and look again. The session's keepalive decides whether the
                // key outlives the outage; the checks above end the wait when it does not.
                let wake = min(ContinuousClock.now + pause, deadline ?? .now + pause, session.validUntil)
                try? await Task.sleep(until: wake, clock: .continuous)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    private enum Round { case admitted, changed }

    /// One round: look (unless `known` says what blocked the entry at an earlier read); if
    /// blocked, watch the blocker, look again, and wait for an event that concerns the entry.
    private func lookAndWait(
        _ entry: Entry, revision: Revision, blockedBy known: Blocker?, deadline: ContinuousClock.Instant?
    ) async throws -> Round {
        let blocker: Blocker
        if let known {
            blocker = known
        } else {
            // The newest state, through the leader: an admission is only ever decided on it (the
            // entry's own key may have gone after the event that ended the last round).
            guard case .blocked(let seen) = try await look(entry, revision: revision) else { return .admitted }
            blocker = seen
        }
        // Listen from now on, then look again, at the revision the watch starts after: a change
        // between the read and the watch is caught by this second look, any later one by the
        // watch (watching from a past revision would cost up to 100 ms).
        trace(.watchSent)
        let watch = try await store.watch(
            [blocker.watched, .key(entry.key)],
            options: WatchOptions(
                includePrevious: blocker.onlyKeysCreatedBefore != nil, excluding: blocker.wakesOnPut ? [] : [.put]),
            timeout: remaining(until: deadline))
        trace(.watchCreated)
        defer { watch.cancel() }
        let listening = Revision(watch.startRevision.rawValue - 1)
        guard try await isStillBlocked(entry, revision: revision, by: blocker, asOf: listening) else { return .changed }
        switch try await waitForChange(on: watch, of: entry.key, blocker: blocker, deadline: deadline) {
        case .ownKeyDeleted:
            throw keyGone(entry.key)
        case .changed, .watchEnded:
            return .changed
        case .sessionLost(let reason):
            throw LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting: \(reason)")
        case .deadlinePassed:
            throw LockError(code: .timeout, message: "\(name) was not acquired in time")
        }
    }

    /// Reads the slice of the queue the rule needs and the entry's own key, in one txn: the
    /// newest state (through the leader), or the state as of revision `at` (see
    /// ``isStillBlocked(_:revision:by:asOf:)``).
    func look(_ entry: Entry, revision: Revision, at past: Revision? = nil) async throws -> Admission {
        var ahead = entry.rule.slice(ahead: revision, in: prefix)
        var mine = RangeRequest(.key(entry.key), keysOnly: true)
        if let past {
            (ahead.revision, ahead.consistency) = (past, .serializable)
            (mine.revision, mine.consistency) = (past, .serializable)
        }
        trace(.lookSent)
        let snapshot = try await store.txn(Txn(then: [.range(ahead), .range(mine)]), retry: .idempotent, timeout: nil)
        trace(.lookAnswered)
        guard snapshot.responses.count == 2, case .range(let ahead) = snapshot.responses[0],
            case .range(let mine) = snapshot.responses[1]
        else { throw EtcdError(code: .invalidResponse, message: "a queue read answered unexpectedly") }
        guard mine.keyValues.first?.createRevision == revision else { throw keyGone(entry.key) }
        return entry.rule.admission(of: revision, ahead: ahead.keyValues, in: prefix)
    }

    /// Whether `blocker` still blocked the entry at `known`, the revision its watch started
    /// listening after: read from any member that has applied it, from its own store, without
    /// waiting for the leader (behind other writes' disk syncs). The history up to a committed
    /// revision is the same on every member, and every change after `known` reaches the watch.
    ///
    /// Trusted only to say "still blocked": anything else (an admission, another blocker, the
    /// entry's key absent) ends the round, and the next one decides on the newest state. A member
    /// that has not applied `known`, or has compacted it, refuses; a `known` before the entry's
    /// own put (a watch on a member behind the one that took the put) cannot show the entry at
    /// all. Either way it is the ordinary look.
    func isStillBlocked(_ entry: Entry, revision: Revision, by blocker: Blocker, asOf known: Revision) async throws -> Bool {
        if known >= revision {
            do {
                return try await look(entry, revision: revision, at: known) == .blocked(blocker)
            } catch let error as EtcdError where error.code != .cancelled && !Task.isCancelled {
            } catch let error as LockError where error.code == .ownershipLost {
            }
        }
        return try await look(entry, revision: revision) == .blocked(blocker)
    }

    enum WaitOutcome: Sendable {
        case ownKeyDeleted
        /// An event that may change the entry's admission.
        case changed
        case watchEnded
        case sessionLost(SessionLoss)
        case deadlinePassed
    }

    /// Races an event that concerns the entry against the session's loss and the deadline.
    func waitForChange(
        on watch: EtcdWatch, of key: EtcdKey, blocker: Blocker, deadline: ContinuousClock.Instant?
    ) async throws -> WaitOutcome {
        let session = self.session
        let queue = self
        let outcome = try await withThrowingTaskGroup(of: WaitOutcome.self) { group in
            group.addTask {
                do {
                    for try await event in watch {
                        if event.keyValue.key == key {
                            if event.kind == .delete { return .ownKeyDeleted }
                        } else if blocker.concerns(event) {
                            queue.trace(.eventReceived)
                            return .changed
                        }
                    }
                } catch let error as EtcdError where error.code != .cancelled {
                    // The watch could not be resumed; the caller reads the queue again.
                    _ = error
                }
                return .watchEnded
            }
            group.addTask { .sessionLost(try await session.waitUntilLost()) }
            if let deadline {
                group.addTask {
                    try await Task.sleep(until: deadline, clock: .continuous)
                    return .deadlinePassed
                }
            }
            defer { group.cancelAll() }
            return try await group.next() ?? .watchEnded
        }
        try checkNotCancelled()
        return outcome
    }

    /// Waits until the key created at `revision` is gone (deleted or replaced) or the session is
    /// lost, and says which. While etcd cannot be reached the key is watched again with backoff
    /// (the session's keepalive decides meanwhile whether the key still stands).
    ///
    /// - Throws: `CancellationError` (or ``EtcdError`` `.cancelled`) when the task is cancelled first.
    func waitUntilLost(_ key: EtcdKey, revision: Revision) async throws -> LockLoss {
        let session = self.session
        let store = self.store
        return try await withThrowingTaskGroup(of: LockLoss.self) { group in
            group.addTask { .sessionLost(try await session.waitUntilLost()) }
            group.addTask {
                var pause = Duration.milliseconds(100)
                while true {
                    do {
                        trace(.watchSent)
        let watch = try await store.watch([.key(key)], options: WatchOptions(excluding: [.put]), timeout: nil)
                        defer { watch.cancel() }
                        let current = try await store.range(RangeRequest(.key(key)), timeout: nil)
                        if current.keyValues.first?.createRevision != revision { return .keyDeleted }
                        for try await _ in watch { return .keyDeleted }
                    } catch let error as EtcdError where error.code != .cancelled && !Task.isCancelled {
                        // etcd unreachable, or the watch could not resume (compacted history):
                        // watch afresh and read the key again, so a force-release during the
                        // outage is still seen. Meanwhile the session's keepalive decides.
                        _ = error
                    }
                    if Task.isCancelled { throw CancellationError() }
                    try await Task.sleep(for: pause)
                    pause = min(pause * 2, .seconds(2))
                }
            }
            defer { group.cancelAll() }
            guard let loss = try await group.next() else { throw CancellationError() }
            return loss
        }
    }

    /// The error to report for `error` thrown while waiting: cancellation in any form becomes
    /// ``LockError`` `.cancelled` (an etcd call interrupted by the cancellation says `.cancelled` too).
    func normalized(_ error: any Error) -> any Error {
        if let lockError = error as? LockError { return lockError }
        let isCancellation = error is CancellationError || (error as? EtcdError)?.code == .cancelled
        if isCancellation || Task.isCancelled {
            return LockError(code: .cancelled, message: "waiting for \(name) was cancelled", underlying: error as? EtcdError)
        }
        return error
    }

    func keyGone(_ key: EtcdKey) -> LockError {
        if session.isValid {
            return LockError(code: .ownershipLost, message: "the queue key \(key) of \(name) was deleted")
        }
        return LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting for \(name)")
    }

    func checkNotCancelled() throws {
        if Task.isCancelled { throw LockError(code: .cancelled, message: "waiting for \(name) was cancelled") }
    }

    func checkDeadline(_ deadline: ContinuousClock.Instant?) throws {
        if let deadline, ContinuousClock.now >= deadline {
            throw LockError(code: .timeout, message: "\(name) was not acquired in time")
        }
    }

    func remaining(until deadline: ContinuousClock.Instant?) -> Duration? {
        guard let deadline else { return nil }
        return max(.milliseconds(1), ContinuousClock.now.duration(to: deadline))
    }
}
