import Etcd

/// The queue behind a mutex or an election: keys `prefix/<lease-hex>` ordered by create revision;
/// the first key holds. Uses only the public ``EtcdClient`` API, as etcd's own recipes do.
struct LockQueue: Sendable {
    let session: EtcdSession
    /// The queue's prefix, ending with `/`.
    let prefix: EtcdKey
    /// This session's key in the queue.
    let key: EtcdKey
    /// The name observers and errors use.
    let name: String

    /// The queue of the recipe `kind` ("lock", "election") named `name` in `namespace`.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    init(session: EtcdSession, namespace: String, kind: String, name: String) throws {
        self.session = session
        self.prefix = try LockName.prefix(namespace: namespace, kind: kind, name: name)
        self.key = prefix.appending(session.lease.hexString)
        self.name = name
    }

    var client: EtcdClient { session.client }

    /// Takes this session's local turn on the key: tasks of one session share the key, so they
    /// queue in the process first. Release it with ``releaseLocalTurn()``.
    ///
    /// - Throws: ``LockError`` `.timeout` at `deadline`, `.sessionLost`, `.cancelled`.
    func takeLocalTurn(until deadline: ContinuousClock.Instant?) async throws {
        do {
            if let deadline {
                guard try await session.localLocks.acquire(key.description, until: deadline) else {
                    throw LockError(code: .timeout, message: "\(name) was not acquired in time")
                }
            } else {
                try await session.localLocks.acquire(key.description)
            }
        } catch let error as LockError {
            throw error
        } catch is LocalLockTable.Closed {
            throw LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting for \(name)")
        } catch {
            throw LockError(code: .cancelled, message: "waiting for \(name) was cancelled")
        }
    }

    /// Hands this session's local turn on the key to its next task, or frees it.
    func releaseLocalTurn() {
        session.localLocks.release(key.description)
    }

    /// Where a key stands after ``enqueue(value:)``.
    struct Position: Sendable {
        /// The create revision of this session's key: its place in line and its fencing token.
        var revision: Revision
        /// The key at the head of the queue (`nil` only if the queue emptied meanwhile).
        var head: KeyValue?
        /// Whether this session's key is at the head.
        var isHead: Bool { head?.createRevision == revision }
    }

    /// Puts this session's key in the queue (or finds it there) and learns the head, in one txn.
    ///
    /// The common case, an empty queue, costs etcd one put: the txn's compare is "no key under
    /// the prefix", and the new key is then the head. Otherwise a nested txn creates the key if
    /// absent (or finds it) and reads the head. Safe to retry: the key is the session's own, so a
    /// second attempt finds it.
    func enqueue(value: [UInt8]) async throws -> Position {
        let headRange = RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .ascending))
        let queued = Txn(
            if: [.createRevision(of: key, .equal, .zero)],
            then: [.put(key, value: value, lease: session.lease), .range(headRange)],
            else: [.range(RangeRequest(.key(key))), .range(headRange)])
        let txn = Txn(
            if: [Txn.Compare(.prefix(prefix), .createRevision(.zero), .equal)],
            then: [.put(key, value: value, lease: session.lease)],
            else: [.txn(queued)])
        let result: TxnResult
        do {
            // Not cancelled with the caller: abandoning the request in flight would leave its
            // outcome unknown (the key may land after any clean-up). The caller's cancellation is
            // honoured right after, by the checks that follow every enqueue.
            // Under load it travels with other queues' enqueues (never with this queue's own:
            // their create revisions must differ).
            let client = self.client
            let prefix = self.prefix
            result = try await Task {
                try await client.txn(txn, coalescingGroup: prefix.description, retry: .idempotent)
            }.value
        } catch let error as EtcdError where error.code == .leaseNotFound {
            session.markLost(.leaseExpired)
            throw LockError(code: .sessionLost, message: "session \(session.lease) is lost", underlying: error)
        } catch let error as EtcdError where error.mayHaveBeenApplied {
            // Cut off after the request may have reached etcd (on any attempt): the key may exist,
            // and nobody would ever delete it (a phantom waiter, later a phantom holder). Delete
            // it: the key is this session's own, and the local lock table keeps other tasks of the
            // session off it.
            await withdraw(revision: nil)
            throw normalized(error)
        }
        if result.succeeded {
            let revision = result.header.revision
            let mine = KeyValue(
                key: key, value: value, createRevision: revision, modRevision: revision, version: 1, lease: session.lease)
            return Position(revision: revision, head: mine)
        }
        guard case .txn(let inner) = result.responses.first, inner.responses.count == 2,
            case .range(let head) = inner.responses[1]
        else {
            throw EtcdError(code: .invalidResponse, message: "an enqueue txn answered \(result.responses)")
        }
        if inner.succeeded {
            return Position(revision: result.header.revision, head: head.keyValues.first)
        }
        guard case .range(let mine) = inner.responses[0], let existing = mine.keyValues.first else {
            throw EtcdError(code: .invalidResponse, message: "an enqueue txn found no key in its failure branch")
        }
        return Position(revision: existing.createRevision, head: head.keyValues.first)
    }

    /// Waits until this session's key, created at `revision`, heads the queue.
    ///
    /// Watches only the key just ahead (no herd) and this session's own key on one stream; the
    /// own key is re-checked after every wait, so a lost session or a deleted key ends the wait.
    ///
    /// - Throws: ``LockError`` `.sessionLost` / `.ownershipLost` when the key or session goes away,
    ///   `.timeout` at `deadline`, `.cancelled`; ``EtcdError`` for etcd failures.
    func waitForTurn(revision: Revision, deadline: ContinuousClock.Instant?) async throws {
        var pause = Duration.milliseconds(50)
        while true {
            try checkNotCancelled()
            try session.checkValid()
            try checkDeadline(deadline)
            do {
                if try await isHeadAfterWaiting(revision: revision, deadline: deadline) { return }
                pause = .milliseconds(50)
            } catch let error as EtcdError where Self.isOutage(error) && !Task.isCancelled {
                // etcd unreachable for a moment (a restart, an election, a paused member): keep
                // the place in line and look again. The session's keepalive decides whether the
                // key outlives the outage; the checks above end the wait when it does not.
                let wake = min(ContinuousClock.now + pause, deadline ?? .now + pause, session.validUntil)
                try? await Task.sleep(until: wake, clock: .continuous)
                pause = min(pause * 2, .seconds(1))
            }
        }
    }

    /// Errors of reads that pass when etcd comes back: unreachable members, no leader, a call
    /// cut off by its own deadline.
    static func isOutage(_ error: EtcdError) -> Bool {
        [.unavailable, .noLeader, .timeout].contains(error.code)
    }

    /// One round of waiting: returns `true` when nobody is ahead of this session's key, `false`
    /// when something changed ahead and the queue must be read again.
    private func isHeadAfterWaiting(revision: Revision, deadline: ContinuousClock.Instant?) async throws -> Bool {
        var aheadRange = RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .descending))
        aheadRange.maxCreateRevision = Revision(revision.rawValue - 1)
        let snapshot = try await client.txn(
            Txn(then: [.range(aheadRange), .range(RangeRequest(.key(key)))]), retry: .idempotent)
        guard snapshot.responses.count == 2, case .range(let ahead) = snapshot.responses[0],
            case .range(let mine) = snapshot.responses[1]
        else { throw EtcdError(code: .invalidResponse, message: "a queue read answered unexpectedly") }
        guard mine.keyValues.first?.createRevision == revision else { throw keyGone() }
        guard let predecessor = ahead.keyValues.first else { return true }

        // Listen from now on, then look again: a deletion between the read and the watch is
        // caught by the second look (watching from a past revision would cost up to 100 ms).
        let watch = try await client.watch(
            [.key(predecessor.key), .key(key)], options: WatchOptions(excluding: [.put]),
            timeout: remaining(until: deadline))
        defer { watch.cancel() }
        let again = try await client.txn(
            Txn(then: [.range(RangeRequest(.key(predecessor.key))), .range(RangeRequest(.key(key)))]),
            retry: .idempotent)
        guard again.responses.count == 2, case .range(let stillAhead) = again.responses[0],
            case .range(let stillMine) = again.responses[1]
        else { throw EtcdError(code: .invalidResponse, message: "a queue read answered unexpectedly") }
        guard stillMine.keyValues.first?.createRevision == revision else { throw keyGone() }
        guard stillAhead.keyValues.first?.createRevision == predecessor.createRevision else { return false }

        switch try await waitForDeletion(on: watch, deadline: deadline) {
        case .deleted(let deletedKey) where deletedKey == key:
            throw keyGone()
        case .deleted, .watchEnded:
            return false
        case .sessionLost(let reason):
            throw LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting: \(reason)")
        case .deadlinePassed:
            throw LockError(code: .timeout, message: "\(name) was not acquired in time")
        }
    }

    private enum WaitOutcome: Sendable {
        case deleted(EtcdKey)
        case watchEnded
        case sessionLost(SessionLoss)
        case deadlinePassed
    }

    /// Races a delete event on `watch` against the session's loss and the deadline.
    private func waitForDeletion(on watch: EtcdWatch, deadline: ContinuousClock.Instant?) async throws -> WaitOutcome {
        let session = self.session
        let outcome = try await withThrowingTaskGroup(of: WaitOutcome.self) { group in
            group.addTask {
                do {
                    for try await event in watch where event.kind == .delete {
                        return .deleted(event.keyValue.key)
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

    /// Waits until this session's key created at `revision` is gone (deleted or replaced) or the
    /// session is lost, and says which. While etcd cannot be reached the key is watched again
    /// with backoff (the session's keepalive decides meanwhile whether the key still stands).
    ///
    /// - Throws: `CancellationError` (or ``EtcdError`` `.cancelled`) when the task is cancelled first.
    func waitUntilLost(revision: Revision) async throws -> LockLoss {
        let session = self.session
        let key = self.key
        return try await withThrowingTaskGroup(of: LockLoss.self) { group in
            group.addTask { .sessionLost(try await session.waitUntilLost()) }
            group.addTask {
                var pause = Duration.milliseconds(100)
                while true {
                    do {
                        let watch = try await session.client.watch(.key(key), options: WatchOptions(excluding: [.put]))
                        defer { watch.cancel() }
                        let current = try await session.client.range(RangeRequest(.key(key)))
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

    /// Deletes this session's waiting key: only if it is still the one created at `revision`
    /// when that is known, whatever its revision after an enqueue whose outcome is unknown.
    ///
    /// Runs in a task of its own with a deadline of its own, so it completes even when the caller
    /// was cancelled. If it fails (etcd unreachable, an unknown outcome), the session keeps
    /// retrying it in the background until it lands or the session ends: a key left behind
    /// would block every later locker until the lease ended.
    ///
    /// - Returns: whether the withdrawal landed now (`false`: it goes on in the background).
    @discardableResult
    func withdraw(revision: Revision?) async -> Bool {
        let client = self.client
        let deletion = Self.deletion(of: key, createdAt: revision)
        let landed = await Task {
            do {
                _ = try await client.txn(deletion, retry: .idempotent, timeout: .seconds(2))
                return true
            } catch {
                return false
            }
        }.value
        if !landed {
            session.pendingWithdrawals.add(.init(key: key, revision: revision))
        } else if revision == nil {
            // The unknown enqueue may still land later, from a member that buffered it.
            session.pendingWithdrawals.recheckLater(key)
        }
        return landed
    }

    /// Deletes `key`, only if it is still the one created at `revision` when that is known.
    static func deletion(of key: EtcdKey, createdAt revision: Revision?) -> Txn {
        guard let revision else { return Txn(then: [.delete(.key(key))]) }
        return Txn(if: [.createRevision(of: key, .equal, revision)], then: [.delete(.key(key))])
    }

    /// Deletes the key if it is still the one created at `revision`; reports whether it was.
    func release(revision: Revision) async throws -> Bool {
        let result = try await client.txn(
            Self.deletion(of: key, createdAt: revision),
            coalescingGroup: prefix.description, retry: .onlyIfNotSent)
        return result.succeeded
    }

    /// Releases like ``release(revision:)``; when the answer is lost, reads the key back to learn
    /// whether the release landed (and releases again if the key is still there).
    func releaseReadingBack(revision: Revision) async throws -> Bool {
        do {
            return try await release(revision: revision)
        } catch let error as EtcdError where error.mayHaveBeenApplied {
            let current = try await client.range(RangeRequest(.key(key)))
            guard current.keyValues.first?.createRevision == revision else { return true }
            return try await release(revision: revision)
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

    private func keyGone() -> LockError {
        if session.isValid {
            return LockError(code: .ownershipLost, message: "the queue key \(key) of \(name) was deleted")
        }
        return LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting for \(name)")
    }

    private func checkNotCancelled() throws {
        if Task.isCancelled { throw LockError(code: .cancelled, message: "waiting for \(name) was cancelled") }
    }

    private func checkDeadline(_ deadline: ContinuousClock.Instant?) throws {
        if let deadline, ContinuousClock.now >= deadline {
            throw LockError(code: .timeout, message: "\(name) was not acquired in time")
        }
    }

    private func remaining(until deadline: ContinuousClock.Instant?) -> Duration? {
        guard let deadline else { return nil }
        return max(.milliseconds(1), ContinuousClock.now.duration(to: deadline))
    }
}
