import Etcd
import Foundation

extension LockHandle {
    /// The outcome of ``LockHandle/acquire(_:namespace:mode:client:ttl:owner:wait:observer:)``:
    /// contention is a result, not an error.
    public enum Acquisition: Sendable {
        /// The lock is held. The lease has about `ttl` left: renew it well before that (every
        /// `ttl / 3`), or the lock is lost.
        case acquired(LockHandle, ttl: Duration)
        /// Someone else holds it (a try: `wait` zero); nothing of the attempt is left in etcd.
        case heldByOther(LockHolder?)
        /// The wait ended without the lock; nothing of the attempt is left in etcd. `holder` is the
        /// holder at that moment, if one could be read.
        case timedOut(holder: LockHolder?)
    }

    /// Acquires the mutex `name` — or, with `mode`, one side of its read/write lock or a permit of
    /// its semaphore — for a holder that renews the lease itself.
    ///
    /// Grants a lease of `ttl`, queues the holder's key on it and waits. **While waiting, this call
    /// keeps the lease alive**; once it returns ``Acquisition/acquired(_:ttl:)``, it does not: the
    /// caller must call ``renew(client:timeout:)`` before the TTL runs out. If the wait ran long, the
    /// lease is renewed once more before returning, so the caller starts with nearly the whole TTL.
    ///
    /// On every other ending — try refused, timeout, cancellation, an error — the waiter's key is
    /// withdrawn and the lease revoked before this call returns (the clean-up finishes even when
    /// the calling task is cancelled), so nothing of the attempt stays in etcd.
    ///
    /// - Parameters:
    ///   - ttl: the lease's TTL, from 1 second to 1 year (etcd raises small values to its minimum).
    ///   - owner: who holds the lock, stored as the key's value (shown by inspections).
    ///   - mode: the recipe and the hold (default: the mutex).
    ///   - wait: how long to wait; `.zero` tries once; `nil` waits until cancelled.
    ///   - observer: told about the acquisition as for an ``EtcdMutex``.
    /// - Throws: ``LockError`` `.invalidName`, `.invalidTTL`, `.invalidArgument` (a permit count
    ///   outside 1…``EtcdSemaphore/maximumPermits``), `.permitsMismatch` (the semaphore is held
    ///   with another count; nothing is left in etcd), `.cancelled`, `.sessionLost` (the lease was
    ///   lost while waiting); ``EtcdError`` when etcd cannot be reached.
    public static func acquire(
        _ name: String, namespace: String = "default", mode: Mode = .exclusive, client: EtcdClient, ttl: Duration,
        owner: String, wait: Duration?, observer: any LockObserver = NoLockObserver()
    ) async throws -> Acquisition {
        _ = try LockName.prefix(namespace: namespace, kind: mode.kind.rawValue, name: name)
        // The lease is the holder's secret (with the token, which is public): chosen at random.
        return try await EtcdSession.withSession(
            client, ttl: ttl, owner: owner, observer: observer, renewal: nil, leaseID: EtcdSession.unguessableLeaseID(), isolation: nil
        ) { session in
            let lock: LockGuard
            switch try await hold(mode, name, namespace: namespace, session: session, wait: wait) {
            case .acquired(let acquired): lock = acquired
            case .refused(let holder): return .heldByOther(holder)
            case .timedOut(let holder): return .timedOut(holder: holder)
            }
            // The key records when the holder was admitted, for inspections (see
            // ``QueueEntryRecord``), unless it already says so. Best effort: the hold stands either way.
            if let record = lock.unrecordedAdmission {
                let stamped = record.admitted(at: Date()).bytes
                _ = try? await client.txn(
                    Txn(if: [.createRevision(of: lock.key, .equal, lock.token.revision)], then: [.put(lock.key, value: stamped, lease: session.lease)]),
                    retry: .idempotent)
            }
            var ttlLeft = session.ttl
            // After a long wait the last keepalive may be up to a third of the TTL old: renew once
            // more, so the caller's first renewal is due a whole TTL/3 from now.
            if ContinuousClock.now.duration(to: session.validUntil) < session.ttl * 0.8 {
                ttlLeft = .seconds(try await client.keepAliveOnce(session.lease).ttlSeconds)
            }
            let handle = LockHandle(name: name, namespace: namespace, mode: mode, key: lock.key, lease: session.lease, token: lock.token)
            // Last step: from here on the lease is the caller's to renew; the session neither
            // renews nor revokes it.
            session.handOverLease()
            return .acquired(handle, ttl: ttlLeft)
        }
    }

    /// How one attempt of ``hold(_:_:namespace:session:wait:)`` ended.
    private enum Attempt {
        case acquired(LockGuard)
        case refused(LockHolder?)
        case timedOut(LockHolder?)
    }

    /// Takes the hold `mode` asks for through the recipe's own API, in `session`.
    private static func hold(_ mode: Mode, _ name: String, namespace: String, session: EtcdSession, wait: Duration?) async throws -> Attempt {
        switch mode {
        case .exclusive:
            let mutex = try EtcdMutex(name, session: session, namespace: namespace)
            return try await attempt(wait, once: mutex.tryLock, waiting: mutex.lock(timeout:), holder: mutex.holder)
        case .read, .write:
            let lock = try EtcdReadWriteLock(name, session: session, namespace: namespace)
            let holder = { try await lock.holders().first }
            return mode == .read
                ? try await attempt(wait, once: lock.tryRead, waiting: lock.read(timeout:), holder: holder)
                : try await attempt(wait, once: lock.tryWrite, waiting: lock.write(timeout:), holder: holder)
        case .permit(let permits):
            let semaphore = try EtcdSemaphore(name, permits: permits, session: session, namespace: namespace)
            return try await attempt(
                wait, once: semaphore.tryAcquire, waiting: semaphore.acquire(timeout:), holder: { try await semaphore.holders().first })
        }
    }

    /// Tries once when `wait` is zero, else waits up to `wait`; a timeout reads the holder.
    private static func attempt(
        _ wait: Duration?, once: () async throws -> TryLockOutcome, waiting: (Duration?) async throws -> LockGuard,
        holder: () async throws -> LockHolder?
    ) async throws -> Attempt {
        if wait == .zero {
            switch try await once() {
            case .acquired(let acquired): return .acquired(acquired)
            case .heldByOther(let holder): return .refused(holder)
            }
        }
        do {
            return .acquired(try await waiting(wait))
        } catch let error as LockError where error.code == .timeout {
            return .timedOut(try? await holder())
        }
    }

    init(name: String, namespace: String, mode: Mode, key: EtcdKey, lease: LeaseID, token: FencingToken) {
        self.name = name
        self.namespace = namespace
        self.mode = mode
        self.key = key
        self.lease = lease
        self.token = token
    }
}
