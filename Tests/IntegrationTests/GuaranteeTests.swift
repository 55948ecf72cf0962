import Etcd
import EtcdTestSupport
import Synchronization
import Testing

@testable import EtcdLock

/// Passes every call to a real client, and runs a hook just before the first watch is created:
/// the point between a waiter's read of the queue and its watch, where a release is easy to miss.
private final class BeforeFirstWatch: ForwardingStore {
    let client: EtcdClient
    private let hook: Mutex<(@Sendable () async throws -> Void)?>

    init(_ client: EtcdClient, hook: @escaping @Sendable () async throws -> Void) {
        self.client = client
        self.hook = Mutex(hook)
    }

    func watch(_ ranges: [KeyRange], options: WatchOptions, timeout: Duration?) async throws -> EtcdWatch {
        if let hook = hook.withLock({ hook in defer { hook = nil }; return hook }) { try await hook() }
        return try await client.watch(ranges, options: options, timeout: timeout)
    }
}

/// Sends every enqueue to etcd, then loses the answer of the first (as a member that applied it
/// and died would): the caller learns only that it may have been applied.
private final class LostFirstEnqueueAnswer: ForwardingStore {
    let client: EtcdClient
    private let lost = Mutex(false)

    init(_ client: EtcdClient) { self.client = client }

    func txn(_ txn: Txn, coalescingGroup: String, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        let result = try await client.txn(txn, coalescingGroup: coalescingGroup, retry: retry, timeout: timeout)
        guard lost.withLock({ lost in defer { lost = true }; return !lost }) else { return result }
        throw EtcdError(code: .unavailable, message: "the connection closed before the answer", mayHaveBeenApplied: true)
    }
}

/// Passes every call to a real client; once armed, a waiter's look at the queue that finds
/// nothing ahead (its admission) is held until an instant (the session's deadline), as a process
/// paused at the worst moment would be.
private final class PausedLook: ForwardingStore {
    let client: EtcdClient
    private let until = Mutex<ContinuousClock.Instant?>(nil)

    init(_ client: EtcdClient) { self.client = client }

    func arm(until instant: ContinuousClock.Instant) { until.withLock { $0 = instant } }

    func txn(_ txn: Txn, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        let result = try await client.txn(txn, retry: retry, timeout: timeout)
        let isLook = txn.compares.isEmpty && txn.success.count == 2
        if isLook, case .range(let ahead) = result.responses.first, ahead.keyValues.isEmpty,
            let instant = until.withLock({ $0 })
        {
            try await Task.sleep(until: instant, clock: .continuous)
        }
        return result
    }
}

/// Answers the first successful keepalive late, and records when it was sent.
private final class LateFirstAnswer: Sendable {
    let client: EtcdClient
    let lateness: Duration
    private let delayedSend = Mutex<ContinuousClock.Instant?>(nil)

    init(_ client: EtcdClient, lateness: Duration) {
        self.client = client
        self.lateness = lateness
    }

    /// When the keepalive whose answer came late was sent.
    var firstSend: ContinuousClock.Instant? { delayedSend.withLock { $0 } }

    func renew(_ lease: LeaseID, timeout: Duration) async throws -> LeaseKeepAlive {
        let sent = ContinuousClock.now
        // A keepalive that fails (a loaded etcd) fails as it would: the session tries again.
        let answer = try await client.keepAliveOnce(lease, timeout: timeout)
        let isFirst = delayedSend.withLock { delayed in
            guard delayed == nil else { return false }
            delayed = sent
            return true
        }
        if isFirst {
            // The answer is slow to come back (a loaded member, a slow network).
            try await Task.sleep(for: lateness)
            return answer
        }
        // Later keepalives never come back: only the first answer moves the deadline.
        try await Task.sleep(for: .seconds(3600))
        return answer
    }
}

@Suite("the guarantees the design rests on, each pinned by a deterministic test", .timeLimit(.minutes(1)))
struct GuaranteeTests {
    @Test("a waiter whose predecessor is released between its read and its watch proceeds at once (the second look)")
    func releaseBetweenReadAndWatchIsSeen() async throws {
        let namespace = recipeNamespace("second-look")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { holderSession in
                try await EtcdSession.withSession(client) { waiterSession in
                    let holder = try EtcdMutex("gap", session: holderSession, namespace: namespace)
                    let held = try await holder.lock()
                    let store = BeforeFirstWatch(client) {
                        // The waiter has read the queue (the holder ahead) and is about to watch it.
                        try await holder.unlock(held)
                    }
                    let waiter = try EtcdMutex("gap", session: waiterSession, namespace: namespace, store: store)
                    // Without the look after the watch starts, the release is never seen: the
                    // waiter would sleep until its timeout.
                    let next = try await waiter.lock(timeout: .seconds(20))
                    #expect(next.token > held.token)
                    try await waiter.unlock(next)
                }
            }
        }
    }

    @Test("an enqueue that landed but whose answer was lost is withdrawn: no phantom key, and the next attempt succeeds")
    func unknownEnqueueIsWithdrawn() async throws {
        let namespace = recipeNamespace("lost-answer")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex("answer", session: session, namespace: namespace, store: LostFirstEnqueueAnswer(client))
                await #expect { try await mutex.lock(timeout: .seconds(5)) } throws: { ($0 as? EtcdError)?.mayHaveBeenApplied == true }
                #expect(try await queuedKeys(client, mutex.prefix).isEmpty, "the landed enqueue stayed behind: a phantom")
                let held = try await mutex.lock(timeout: .seconds(5))
                try await mutex.unlock(held)
            }
        }
    }

    @Test("a waiter whose session passes its deadline while it learns it is admitted gets no guard (session_lost)")
    func expiredWaiterGetsNoGuard() async throws {
        let namespace = recipeNamespace("expired-waiter")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { holderSession in
                let holder = try EtcdMutex("late", session: holderSession, namespace: namespace)
                let held = try await holder.lock()
                // The waiter's keepalives never come back: its local deadline is fixed at the grant.
                let neverAnswered: EtcdSession.Renewal = { _, _ in
                    try await Task.sleep(for: .seconds(3600))
                    throw CancellationError()
                }
                do {
                    try await EtcdSession.withSession(
                        client, ttl: .seconds(4), owner: nil, observer: NoLockObserver(), renewal: neverAnswered, isolation: nil
                    ) { session in
                        let store = PausedLook(client)
                        // The look that finds the waiter admitted returns only after its deadline.
                        store.arm(until: session.validUntil + .milliseconds(200))
                        let waiter = try EtcdMutex("late", session: session, namespace: namespace, store: store)
                        let waiting = Task { try await waiter.lock(timeout: .seconds(30)) }
                        #expect(try await eventually(within: .seconds(3)) { try await queuedKeys(client, waiter.prefix).count == 2 })
                        try await holder.unlock(held)
                        await #expect { try await waiting.value } throws: { ($0 as? LockError)?.code == .sessionLost }
                    }
                } catch let error as LockError where error.code == .sessionLost {
                    // The session ends lost, as it should.
                }
            }
        }
    }

    @Test("the session's deadline counts from a keepalive's send time, minus the drift margin, not from its late answer")
    func deadlineCountsFromSendTime() async throws {
        try await TestEnvironment.withClient { client in
            let renewals = LateFirstAnswer(client, lateness: .seconds(1))
            try await EtcdSession.withSession(
                client, ttl: .seconds(6), owner: nil, observer: NoLockObserver(),
                renewal: { try await renewals.renew($0, timeout: $1) }, isolation: nil
            ) { session in
                let initial = session.validUntil
                let renewed = try await eventually(within: .seconds(20)) { session.validUntil > initial }
                #expect(renewed)
                guard let sent = renewals.firstSend else {
                    Issue.record("no keepalive was sent")
                    return
                }
                // The design's margin, written out here so that a change to it must change this test:
                // 100 ms plus 2 % of the TTL before etcd could expire the lease.
                let expected = sent + session.ttl - (.milliseconds(100) + session.ttl / 50)
                // The session notes the send instant just before calling the renewal: a hair earlier.
                #expect(session.validUntil <= expected, "deadline \(session.validUntil - expected) past send time + TTL - margin")
                #expect(session.validUntil > expected - .milliseconds(200), "deadline \(expected - session.validUntil) too early")
            }
        }
    }
}
