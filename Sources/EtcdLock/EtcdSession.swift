import Etcd
import Foundation
import Synchronization

/// An etcd lease kept alive in the background: the liveness that every lock and election
/// under it depends on.
///
/// ```swift
/// try await EtcdSession.withSession(client, ttl: .seconds(10)) { session in
///     let mutex = try EtcdMutex("orders", session: session)
///     try await mutex.withLock { lock in
///         try await mutex.fenced(lock, Txn(then: [.put("/orders/next", value: "42".utf8)]))
///     }
/// }
/// ```
///
/// The session renews its lease every TTL/3 and keeps a conservative local deadline: the send
/// time of the last successful keepalive plus the granted TTL, minus a drift margin, on the
/// monotonic clock. etcd cannot expire the lease before that instant, so until then nobody else
/// can hold this session's locks. When etcd reports the lease gone, or the deadline passes without
/// a successful keepalive, the session is lost for good: ``waitUntilLost()`` returns, locks held
/// under it become invalid and ``EtcdMutex/withLock(timeout:reentrant:isolation:_:)`` cancels its body.
public final class EtcdSession: Sendable {
    /// The client the session talks through.
    public let client: EtcdClient
    /// The session's lease; revoking it releases every lock of the session at once.
    public let lease: LeaseID
    /// The TTL etcd granted.
    public let ttl: Duration
    /// Who holds locks through this session (stored as each lock key's value; shown by `inspect`).
    public let owner: String
    let observer: any LockObserver
    /// The observer's ``LockObserver/tracesRequests``, read once.
    let tracesRequests: Bool
    let localLocks = LocalLockTable()
    /// Waiter keys whose withdrawal failed, retried in the background.
    let pendingWithdrawals = PendingWithdrawals()
    /// Numbers the session's entry keys (see `LockQueue.entryKey(part:)`).
    let entryNumbers = Atomic<UInt64>(0)
    /// Numbers the tasks waiting for the session's loss (a `UUID` would read /dev/urandom).
    private let lossWaiters = Atomic<UInt64>(0)
    /// Leases that carry this session's lock-delay markers, by delay (see ``LockDelay``).
    private let markerLeases = Mutex<[Duration: LeaseID]>([:])

    private struct State {
        var validUntil: ContinuousClock.Instant
        var loss: SessionLoss?
        var waiters: [UInt64: CheckedContinuation<SessionLoss, any Error>] = [:]
        /// Whether ``handOverLease()`` was called: closing then leaves the lease alone.
        var isLeaseHandedOver = false
    }

    private let state: Mutex<State>
    private let renewal: Renewal

    /// The margin kept between etcd's expiry and the local deadline (clock drift, scheduling).
    static func driftMargin(for ttl: Duration) -> Duration { .milliseconds(100) + ttl / 50 }

    private init(
        client: EtcdClient, lease: LeaseID, ttl: Duration, owner: String, observer: any LockObserver,
        validUntil: ContinuousClock.Instant, renewal: @escaping Renewal
    ) {
        self.renewal = renewal
        self.client = client
        self.lease = lease
        self.ttl = ttl
        self.owner = owner
        self.observer = observer
        tracesRequests = observer.tracesRequests
        state = Mutex(State(validUntil: validUntil))
    }

    /// Grants a lease, keeps it alive while `body` runs, then revokes it (releasing every lock
    /// and election of the session at once), even when `body` throws.
    ///
    /// `body` runs in the caller's isolation — on the main actor from top-level or `@MainActor`
    /// code, on the actor from an actor's method — so it may use that actor's state, and neither
    /// `body` nor its result needs to be `Sendable` (the shape of the standard library's
    /// `withTaskGroup`). The keepalive runs elsewhere, as a child task on the global executor, so
    /// a busy actor does not delay it.
    ///
    /// Cancelling the calling task cancels the keepalive too; the lease is revoked all the same
    /// (a cleanup of its own, bounded to 2 s, that the cancellation does not interrupt).
    ///
    /// - Parameters:
    ///   - ttl: how long etcd keeps the lease without a keepalive, from 1 second to 1 year, rounded
    ///     up to whole seconds (etcd raises values below its minimum, about 2 s). Shorter means faster
    ///     takeover after a crash and less tolerance for pauses.
    ///   - owner: a description of this holder stored with each lock key (default: host and PID).
    ///   - observer: receives session and lock events.
    ///   - grantTimeout: how long granting the lease may take (default: the client's request
    ///     timeout); a caller whose whole wait is bounded (`lock --timeout 1` on a frozen etcd)
    ///     passes its bound here too.
    ///   - isolation: the actor `body` runs on; leave it to its default, the caller's.
    /// - Throws: ``LockError`` `.invalidTTL`; ``EtcdError`` when the lease cannot be granted;
    ///   whatever `body` throws. If the revoke at the end fails, the lease simply expires after its TTL.
    public static func withSession<Result>(
        _ client: EtcdClient, ttl: Duration = .seconds(10), owner: String? = nil,
        observer: any LockObserver = NoLockObserver(), grantTimeout: Duration? = nil,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (EtcdSession) async throws -> Result
    ) async throws -> Result {
        try await withSession(
            client, ttl: ttl, owner: owner, observer: observer, renewal: nil, grantTimeout: grantTimeout, isolation: isolation,
            body)
    }

    /// A lease ID chosen at random over 62 bits, for leases that act as a capability (a handle's:
    /// whoever presents the lease and the token may renew or release the lock, so the lease must
    /// not be guessable from other leases' IDs, which etcd otherwise hands out in sequence).
    static func unguessableLeaseID() -> LeaseID {
        LeaseID(Int64.random(in: (1 << 61)...Int64.max))
    }

    /// Renews a lease once, within a timeout: the client's keepalive, or a test's stand-in that
    /// delays it (to pin down from which instant the local deadline counts).
    typealias Renewal = @Sendable (LeaseID, Duration) async throws -> LeaseKeepAlive

    /// ``withSession(_:ttl:owner:observer:isolation:_:)`` with the keepalives sent through `renewal`.
    static func withSession<Result>(
        _ client: EtcdClient, ttl: Duration, owner: String?, observer: any LockObserver, renewal: Renewal?,
        leaseID: LeaseID? = nil, grantTimeout: Duration? = nil, isolation: isolated (any Actor)?,
        _ body: (EtcdSession) async throws -> Result
    ) async throws -> Result {
        guard ttl >= .seconds(1), ttl <= .seconds(365 * 24 * 3600) else {
            throw LockError(code: .invalidTTL, message: "a session TTL must be from 1 second to 1 year, not \(ttl)")
        }
        let (seconds, attoseconds) = ttl.components
        let ttlSeconds = seconds + (attoseconds > 0 ? 1 : 0)
        let sent = ContinuousClock.now
        let grant = try await client.grantLease(ttlSeconds: ttlSeconds, id: leaseID, timeout: grantTimeout)
        let granted = Duration.seconds(grant.ttlSeconds)
        let session = EtcdSession(
            client: client, lease: grant.id, ttl: granted,
            owner: owner ?? "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)",
            observer: observer, validUntil: sent + granted - driftMargin(for: granted),
            renewal: renewal ?? { lease, timeout in try await client.keepAliveOnce(lease, timeout: timeout) })
        return try await withThrowingTaskGroup(of: Void.self, returning: Result.self, isolation: isolation) { group in
            // A nonisolated child: the keepalive never waits for the caller's actor.
            group.addTask { await session.keepAlive() }
            group.addTask { await session.pendingWithdrawals.run(client: client, localLocks: session.localLocks) }
            do {
                let result = try await body(session)
                group.cancelAll()
                await session.close()
                return result
            } catch {
                group.cancelAll()
                await session.close()
                throw error
            }
        }
    }

    /// Whether the session is still valid: not lost, and within its local deadline.
    public var isValid: Bool {
        state.withLock { $0.loss == nil && ContinuousClock.now < $0.validUntil }
    }

    /// Why the session was lost, or `nil` while it is valid.
    public var loss: SessionLoss? { state.withLock { $0.loss } }

    /// The instant until which nobody else can hold this session's locks (the local deadline).
    public var validUntil: ContinuousClock.Instant { state.withLock { $0.validUntil } }

    /// Waits until the session is lost and returns why.
    ///
    /// - Throws: `CancellationError` when the calling task is cancelled first.
    public func waitUntilLost() async throws -> SessionLoss {
        let id = lossWaiters.add(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SessionLoss, any Error>) in
                // Checked under the lock the cancellation handler takes: a task cancelled before it
                // got here must not register a waiter that only the session's end would resume.
                let outcome = state.withLock { state -> Result<SessionLoss, CancellationError>? in
                    if let loss = state.loss { return .success(loss) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(throwing: CancellationError())
        }
    }

    /// Throws ``LockError`` `.sessionLost` unless the session is valid.
    func checkValid() throws {
        let (loss, deadline) = state.withLock { ($0.loss, $0.validUntil) }
        if let loss { throw LockError(code: .sessionLost, message: "session \(lease) is lost: \(loss)") }
        if ContinuousClock.now >= deadline {
            markLost(.keepAliveDeadlinePassed)
            throw LockError(code: .sessionLost, message: "session \(lease) passed its deadline without a keepalive")
        }
    }

    /// Records the loss (the first reason wins) and wakes everyone waiting for it.
    func markLost(_ reason: SessionLoss) {
        let waiters = state.withLock { state -> [CheckedContinuation<SessionLoss, any Error>]? in
            guard state.loss == nil else { return nil }
            state.loss = reason
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        guard let waiters else { return }
        // Tasks of this session waiting for a local turn would wait for nothing.
        localLocks.close()
        if reason != .closed { observer.sessionLost(lease: lease, reason: reason) }
        for waiter in waiters { waiter.resume(returning: reason) }
    }

    /// Renews the lease every TTL/3 until cancelled or lost.
    private func keepAlive() async {
        let interval = ttl / 3
        var lastSent = ContinuousClock.now
        var failures = 0
        while !Task.isCancelled {
            let deadline = state.withLock { $0.validUntil }
            if loss != nil { return }
            let now = ContinuousClock.now
            if now >= deadline {
                markLost(.keepAliveDeadlinePassed)
                return
            }
            let due = failures == 0 ? lastSent + interval : now
            if now < due {
                do { try await Task.sleep(until: min(due, deadline), clock: .continuous) } catch { return }
                continue
            }
            let sent = ContinuousClock.now
            do {
                // At most one interval per attempt: a member that hangs (paused, partitioned) costs
                // a third of the TTL, and the next attempt goes to another member in time.
                let attemptTimeout = min(interval, max(.milliseconds(1), sent.duration(to: deadline)))
                let answer = try await renewal(lease, attemptTimeout)
                let granted = Duration.seconds(answer.ttlSeconds)
                state.withLock { state in
                    state.validUntil = max(state.validUntil, sent + granted - Self.driftMargin(for: granted))
                }
                lastSent = sent
                failures = 0
                await renewMarkerLeases(timeout: attemptTimeout)
            } catch let error as EtcdError where error.code == .leaseNotFound {
                markLost(.leaseExpired)
                return
            } catch let error as EtcdError where error.code == .clientShutdown {
                // Nothing can renew the lease any more: say so now rather than at the deadline.
                markLost(.keepAliveDeadlinePassed)
                return
            } catch let error as EtcdError where error.code == .cancelled {
                return
            } catch {
                failures += 1
                observer.keepAliveFailed(lease: lease, error: error)
                // Retry soon, but not in a tight loop: a fraction of the interval, within the deadline.
                let pause = min(interval / 4, .milliseconds(200 * failures))
                do { try await Task.sleep(until: min(ContinuousClock.now + pause, deadline), clock: .continuous) } catch {
                    return
                }
            }
        }
    }

    /// The lease that carries this session's lock-delay markers for `delay`: TTL the session's
    /// TTL plus `delay`, renewed with the session's lease, so a marker outlives a lost session by
    /// the delay. Granted on first use.
    func markerLease(for delay: Duration) async throws -> LeaseID {
        if let lease = markerLeases.withLock({ $0[delay] }) { return lease }
        let total = ttl + delay
        let seconds = total.components.seconds + (total.components.attoseconds > 0 ? 1 : 0)
        let grant = try await client.grantLease(ttlSeconds: seconds)
        let kept = markerLeases.withLock { leases in
            if let first = leases[delay] { return first }
            leases[delay] = grant.id
            return grant.id
        }
        if kept != grant.id { _ = try? await client.revokeLease(grant.id, timeout: .seconds(2)) }
        return kept
    }

    /// Renews the marker leases after the session's own lease: they must stop being renewed
    /// exactly when it does. A marker lease etcd no longer knows is forgotten (granted anew on use).
    private func renewMarkerLeases(timeout: Duration) async {
        for (delay, lease) in markerLeases.withLock({ $0 }) {
            do {
                _ = try await client.keepAliveOnce(lease, timeout: timeout)
            } catch let error as EtcdError where error.code == .leaseNotFound {
                markerLeases.withLock { leases in
                    if leases[delay] == lease { leases[delay] = nil }
                }
            } catch {
                // The next round tries again; the marker lease outlives the session's by the delay.
            }
        }
    }

    /// Hands the lease over to whoever renews it next: when the session's scope ends, the lease
    /// is no longer renewed, and it is **not** revoked, so its keys live until its TTL runs out
    /// unless someone else keeps it alive (``LockHandle``: an HTTP caller renews it).
    ///
    /// Internal seam for handles. Call it only as the very last step of a scope that succeeded:
    /// a scope that throws afterwards would leave the lease (and its keys) to expire on its own.
    func handOverLease() {
        state.withLock { $0.isLeaseHandedOver = true }
    }

    /// Revokes the lease (bounded, and not cancelled with the caller) and marks the session closed.
    private func close() async {
        // Revoked unless etcd already said the lease is gone: a session lost to its local deadline
        // may still have a live lease in etcd, holding keys until its TTL ends. A lease handed over
        // (``handOverLease()``) belongs to its new renewer.
        let isGone = loss == .leaseExpired || state.withLock { $0.isLeaseHandedOver }
        markLost(.closed)
        // Lock-delay markers are left to expire: a hold released cleanly deleted its marker
        // already; one still standing belongs to a hold that was lost or never released, and its
        // delay applies (see ``LockDelay``).
        guard !isGone else { return }
        let client = self.client
        let lease = self.lease
        // Cleanup that must survive the caller's cancellation, with a deadline of its own.
        await finishEvenIfCancelled {
            _ = try? await client.revokeLease(lease, timeout: .seconds(2))
        }
    }
}
