import Etcd

/// A lock holder described by values alone: valid in any process that can reach etcd. It holds
/// the mutex of its name, or one side of its read/write lock, or a permit of its semaphore
/// (``mode``).
///
/// A ``LockGuard`` lives and dies with its ``EtcdSession``; a handle does not. Its lease is
/// *client-driven*: once ``acquire(_:namespace:mode:client:ttl:owner:wait:observer:)`` returns, nobody
/// renews the lease unless the handle's owner calls ``renew(client:timeout:)`` — a crashed owner
/// loses the lock within its TTL. Any process can rebuild a handle from its name, namespace,
/// lease and token (``init(name:namespace:lease:token:)``) and renew or release it, which is what
/// lets stateless replicas of `etcdlock serve` share holders.
///
/// ```swift
/// let attempt = try await LockHandle.acquire("invoices", client: client, ttl: .seconds(10),
///                                            owner: "billing-7", wait: .seconds(5))
/// guard case .acquired(let handle, let ttl) = attempt else { return }
/// // … renew every ttl/3 while working, fence writes with handle.token …
/// _ = try await handle.renew(client: client)
/// _ = try await handle.release(client: client)
/// ```
///
/// The handle's key is in the recipe's own queue (the mutex's is `<prefix><lease-hex>`), so
/// handles and ``EtcdMutex``, ``EtcdReadWriteLock`` or ``EtcdSemaphore`` holders of one name
/// exclude each other as the recipe says, and their tokens compare.
public struct LockHandle: Sendable, Hashable, CustomStringConvertible {
    /// The lock's name.
    public let name: String
    /// The namespace the lock lives in.
    public let namespace: String
    /// The recipe and the hold: mutex, read, write or a permit of a semaphore of N.
    public let mode: Mode
    /// The holder's key: the lock's prefix followed by the lease in hex.
    public let key: EtcdKey
    /// The lease the key is attached to; renewing it keeps the lock.
    public let lease: LeaseID
    /// The fencing token: the key's create revision, greater than every earlier holder's.
    public let token: FencingToken

    /// The handle of the holder of `name` in `namespace` (with `mode`) whose key lives on `lease`
    /// and was created at `token`, as a caller presents it (to renew or release it from anywhere).
    ///
    /// Nothing is checked against etcd here: ``renew(client:timeout:)`` and
    /// ``release(client:timeout:)`` act only if the key is still that one.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    public init(name: String, namespace: String = "default", mode: Mode = .exclusive, lease: LeaseID, token: FencingToken) throws {
        self.name = name
        self.namespace = namespace
        self.mode = mode
        key = try mode.key(name: name, namespace: namespace, lease: lease)
        self.lease = lease
        self.token = token
    }

    public var description: String { "\(name) held (\(mode)) with token \(token) on lease \(lease)" }

    /// Whether a handle's lock is still held.
    public enum Status: Sendable, Hashable {
        /// Held; the lease has `ttl` left, counted from when etcd handled the renewal.
        case held(ttl: Duration)
        /// Lost: the lease is gone, or the key is no longer this holder's (released, force-released,
        /// expired). A lost lock never comes back.
        case lost
    }

    /// Renews the lease, after checking that the key is still this holder's (created at
    /// ``token`` on ``lease``).
    ///
    /// The check comes first, so a caller that names someone else's lease with a stale token
    /// cannot extend it. A force-release between the check and the keepalive is reported by the
    /// next renewal; fenced writes are refused meanwhile.
    ///
    /// Cancelling the caller abandons the request; nothing is changed except, possibly, the
    /// lease's remaining time.
    ///
    /// - Returns: ``Status/held(ttl:)`` with the lease's new TTL, or ``Status/lost``.
    /// - Throws: ``LockError`` `.permitsMismatch` when a semaphore's permit was acquired with
    ///   another count than the handle says (nothing renewed); ``EtcdError`` when etcd cannot be
    ///   reached (the lock may still be held: retry within the TTL).
    public func renew(client: EtcdClient, timeout: Duration? = nil) async throws -> Status {
        let current = try await client.range(RangeRequest(.key(key)), timeout: timeout)
        guard let keyValue = current.keyValues.first, keyValue.createRevision == token.revision, keyValue.lease == lease
        else { return .lost }
        if case .permit(let permits) = mode, let recorded = QueueEntryRecord(keyValue.value).permits, recorded != permits {
            throw LockError(code: .permitsMismatch, message: "\(name) is held with \(recorded) permits, not \(permits)")
        }
        do {
            let answer = try await client.keepAliveOnce(lease, timeout: timeout)
            return .held(ttl: .seconds(answer.ttlSeconds))
        } catch let error as EtcdError where error.code == .leaseNotFound {
            return .lost
        }
    }

    /// Runs `txn` only while this handle still holds the lock, atomically (the fencing every
    /// holder's writes to etcd should go through; resources outside etcd check ``token``).
    ///
    /// - Returns: `txn`'s own result.
    /// - Throws: ``LockError`` `.ownershipLost` when the key is no longer this holder's (released,
    ///   force-released, expired); ``EtcdError`` when etcd cannot be reached.
    public func fenced(_ txn: Txn, client: EtcdClient, timeout: Duration? = nil) async throws -> TxnResult {
        guard let result = try await client.fencedTxn(txn, key: key, token: token, timeout: timeout) else {
            throw LockError(code: .ownershipLost, message: "a write fenced by token \(token) of \(name) was rejected")
        }
        return result
    }

    /// Releases the lock: deletes the key only if it is still this holder's (created at
    /// ``token`` on ``lease``), then revokes the lease, which holds nothing else.
    ///
    /// Releasing twice is not an error: the second call returns `false`. When the answer to the
    /// deletion is lost, the key is read back to learn whether it landed. The lease is revoked
    /// only after a deletion that this call made; if that revoke fails, the lease (holding no
    /// keys) expires after its TTL.
    ///
    /// The deletion completes even when the calling task is cancelled (within the client's
    /// request timeout): a release abandoned midway would leave the lock held until the TTL ends.
    ///
    /// - Returns: `true` when this call released the lock; `false` when it was not held by this
    ///   handle any more (released before, force-released, expired).
    /// - Throws: ``EtcdError`` when etcd cannot be reached (the lock may still be held).
    @discardableResult
    public func release(client: EtcdClient, timeout: Duration? = nil) async throws -> Bool {
        try await releaseReportingHold(client: client, timeout: timeout).released
    }

    /// What ``releaseReportingHold(client:timeout:)`` did.
    public struct Release: Sendable, Hashable {
        /// Whether this call released the lock (see ``LockHandle/release(client:timeout:)``).
        public var released: Bool
        /// How long the lock was held, from the admission its key recorded (see
        /// ``QueueEntryRecord``) to the release, by this machine's clock; `nil` when unknown.
        public var heldFor: Duration?
    }

    /// Releases the lock as ``release(client:timeout:)`` does, and tells how long it was held.
    ///
    /// - Throws: ``EtcdError`` when etcd cannot be reached (the lock may still be held).
    public func releaseReportingHold(client: EtcdClient, timeout: Duration? = nil) async throws -> Release {
        let handle = self
        return try await finishEvenIfCancelled { try await handle.releaseNow(client: client, timeout: timeout) }
    }

    private func releaseNow(client: EtcdClient, timeout: Duration?) async throws -> Release {
        // The key is read in the same txn that deletes it, for the admission time it records.
        let deletion = Txn(
            if: [.createRevision(of: key, .equal, token.revision), .lease(of: key, .equal, lease)],
            then: [.range(RangeRequest(.key(key))), .delete(.key(key))])
        let prefix = try LockName.prefix(namespace: namespace, kind: mode.kind.rawValue, name: name)
        let result: TxnResult
        do {
            // Shared holds (reads, permits) travel alone, as the recipes' own releases do.
            result =
                try await (mode.lockMode.isShared
                ? client.txn(deletion, retry: .onlyIfNotSent, timeout: timeout)
                : client.txn(deletion, coalescingGroup: prefix.description, retry: .onlyIfNotSent, timeout: timeout))
        } catch let error as EtcdError where error.mayHaveBeenApplied {
            let current = try await client.range(RangeRequest(.key(key)), timeout: timeout)
            guard let keyValue = current.keyValues.first, keyValue.createRevision == token.revision else {
                // Gone: our deletion landed (or another one did); the lease is ours to revoke either way.
                _ = try? await client.revokeLease(lease, timeout: timeout)
                return Release(released: true, heldFor: nil)
            }
            result = try await client.txn(deletion, retry: .onlyIfNotSent, timeout: timeout)
        }
        guard result.succeeded else { return Release(released: false, heldFor: nil) }
        // Best effort: a lease that outlives this (holding no keys) simply expires.
        _ = try? await client.revokeLease(lease, timeout: timeout)
        guard case .range(let read) = result.responses.first, let released = read.keyValues.first else {
            return Release(released: true, heldFor: nil)
        }
        return Release(released: true, heldFor: QueueEntryRecord.age(of: QueueEntryRecord(released.value).admittedAt))
    }
}
