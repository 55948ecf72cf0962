import Etcd

extension LockQueue {
    /// Deletes an entry's waiting key: only if it is still the one created at `revision` when that
    /// is known, whatever its revision after an enqueue whose outcome is unknown.
    ///
    /// Completes even when the caller was cancelled, with a deadline of its own. If it fails (etcd
    /// unreachable, an unknown outcome), the session keeps retrying it in the background until it
    /// lands or the session ends: a key left behind would block every later entry until the
    /// lease ended.
    ///
    /// - Returns: whether the withdrawal landed now (`false`: it goes on in the background).
    @discardableResult
    ///
    /// - Parameters:
    ///   - marker: the entry's lock-delay marker, deleted with it if the entry had recorded it.
    ///   - pastDeadline: the caller's deadline has passed: try only briefly before handing the
    ///     withdrawal to the background, so the caller is not held long past its deadline.
    func withdraw(_ key: EtcdKey, revision: Revision?, marker: EtcdKey? = nil, pastDeadline: Bool = false) async -> Bool {
        let store = self.store
        let deletion = Self.deletion(of: key, createdAt: revision, marker: marker)
        let timeout: Duration = pastDeadline ? .milliseconds(500) : .seconds(2)
        let landed = await finishEvenIfCancelled {
            (try? await store.txn(deletion, retry: .idempotent, timeout: timeout)) != nil
        }
        if !landed {
            session.pendingWithdrawals.add(.init(key: key, revision: revision))
        } else if revision == nil {
            // The unknown enqueue may still land later, from a member that buffered it.
            session.pendingWithdrawals.recheckLater(key)
        }
        return landed
    }

    /// Deletes `key`, only if it is still the one created at `revision` when that is known; with
    /// it, the lock-delay `marker` if this hold recorded it (its value is the hold's token).
    static func deletion(of key: EtcdKey, createdAt revision: Revision?, marker: EtcdKey? = nil) -> Txn {
        guard let revision else { return Txn(then: [.delete(.key(key))]) }
        var operations: [Txn.Operation] = [.delete(.key(key))]
        if let marker {
            let ownMarker = Txn(if: [.value(of: marker, .equal, Self.markerValue(revision))], then: [.delete(.key(marker))])
            operations.append(.txn(ownMarker))
        }
        return Txn(if: [.createRevision(of: key, .equal, revision)], then: operations)
    }

    /// Releases `lock`: deletes its key if it is still the one the guard created, and frees the
    /// session's local turn. Completes even when the calling task is cancelled (within the
    /// client's request timeout); when the answer is lost, reads the key back to learn whether
    /// the release landed.
    ///
    /// - Throws: ``LockError`` `.notHeld` when the guard was already released, belongs to another
    ///   queue, or the lock had been lost before; ``EtcdError`` when etcd cannot be reached (the
    ///   guard then stays held).
    func release(_ lock: LockGuard) async throws {
        let queue = self
        try await finishEvenIfCancelled { try await queue.releaseNow(lock) }
    }

    private func releaseNow(_ lock: LockGuard) async throws {
        guard isOwnEntry(lock.key) else {
            throw LockError(code: .notHeld, message: "the guard of \(lock.name) (\(lock.key)) does not belong to \(name)")
        }
        guard !lock.isReleased else {
            throw LockError(code: .notHeld, message: "\(name) with token \(lock.token) was already released")
        }
        let released = try await releaseReadingBack(
            lock.key, revision: lock.token.revision, marker: lock.marker, coalescing: !lock.mode.isShared)
        guard lock.state.markReleased() else {
            throw LockError(code: .notHeld, message: "\(name) with token \(lock.token) was already released")
        }
        releaseLocalTurn(lock.key)
        guard released else {
            session.observer.ownershipLost(name: name, token: lock.token)
            throw LockError(code: .notHeld, message: "\(name) with token \(lock.token) had been lost before it was released")
        }
        session.observer.released(name: name, token: lock.token, held: ContinuousClock.now - lock.acquiredAt)
    }

    /// Whether `key` is an entry of this session in this queue (its last segment is the
    /// session's lease, alone or followed by `-<n>`).
    ///
    /// Compared on bytes: it runs on every release.
    func isOwnEntry(_ key: EtcdKey) -> Bool {
        let bytes = key.bytes
        guard bytes.starts(with: prefix.bytes) else { return false }
        let leafStart = bytes.lastIndex(of: UInt8(ascii: "/")).map { $0 + 1 } ?? 0
        let leaf = bytes[leafStart...]
        let lease = leaseSegment.utf8
        guard leaf.starts(with: lease) else { return false }
        return leaf.count == lease.count || leaf[leaf.startIndex + lease.count] == UInt8(ascii: "-")
    }

    /// Deletes the key if it is still the one created at `revision`; reports whether it was.
    /// When the answer is lost, reads the key back to learn whether the release landed (and
    /// releases again if the key is still there).
    ///
    /// - Parameter coalescing: whether the deletion may travel merged with other queues' (an
    ///   exclusive hold's); shared holds' releases travel alone (see ``Entry/shared``).
    func releaseReadingBack(_ key: EtcdKey, revision: Revision, marker: EtcdKey? = nil, coalescing: Bool = true) async throws -> Bool {
        let deletion = Self.deletion(of: key, createdAt: revision, marker: marker)
        let send = { [store, prefix] () async throws -> Bool in
            coalescing
                ? try await store.txn(deletion, coalescingGroup: prefix.description, retry: .onlyIfNotSent, timeout: nil).succeeded
                : try await store.txn(deletion, retry: .onlyIfNotSent, timeout: nil).succeeded
        }
        do {
            trace(.releaseSent)
            let released = try await send()
            trace(.releaseAnswered)
            return released
        } catch let error as EtcdError where error.mayHaveBeenApplied {
            let current = try await store.range(RangeRequest(.key(key)), timeout: nil)
            guard current.keyValues.first?.createRevision == revision else { return true }
            return try await send()
        }
    }

    /// Releases like ``release(_:)``, trying again while etcd cannot be reached, until the
    /// release lands, the lock turns out lost, or the session ends (which bounds the retries).
    /// Completes even when the calling task is cancelled.
    ///
    /// - Returns: `true` when the release landed; `false` when the lock had been lost before, the
    ///   session ended first (its lease then removes the key), or etcd refused the release for
    ///   good. The guard then counts as released.
    func releaseUntilDone(_ lock: LockGuard, onFailure: @escaping @Sendable (any Error) -> Void) async -> Bool {
        let queue = self
        return await finishEvenIfCancelled {
            while true {
                do {
                    try await queue.releaseNow(lock)
                    return true
                } catch let error as LockError where error.code == .notHeld {
                    onFailure(error)
                    return false
                } catch {
                    onFailure(error)
                    let isPermanent = [.permissionDenied, .invalidArgument, .authenticationFailed, .clientShutdown]
                        .contains((error as? EtcdError)?.code)
                    guard queue.session.isValid, !isPermanent else {
                        // The key goes with the session's lease (or stays for good, refused):
                        // other tasks of the session must not wait for this guard any more.
                        if lock.state.markReleased() { queue.releaseLocalTurn(lock.key) }
                        return false
                    }
                    // etcd is unreachable or electing a leader: try again soon.
                    try? await Task.sleep(for: .milliseconds(100))
                }
            }
        }
    }

    /// Runs `txn` only if `lock`'s key is still the one it created, atomically: the transaction
    /// is nested in one whose compare is the key's create revision, so a stale holder's write can
    /// never land.
    ///
    /// - Throws: ``LockError`` `.ownershipLost` when the lock is no longer held by this guard.
    func fenced(_ lock: LockGuard, _ txn: Txn, timeout: Duration?) async throws -> TxnResult {
        guard let inner = try await session.client.fencedTxn(txn, key: lock.key, token: lock.token, timeout: timeout) else {
            session.observer.ownershipLost(name: name, token: lock.token)
            throw LockError(code: .ownershipLost, message: "a write fenced by token \(lock.token) of \(name) was rejected")
        }
        return inner
    }
}
