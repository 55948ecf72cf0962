import Etcd
import EtcdTestSupport
import Synchronization
import Testing

@testable import EtcdLock

/// Records the trace steps of one session's lock queues, in order.
private final class StepRecorder: LockObserver {
    private let steps = Mutex<[LockTraceStep]>([])
    var tracesRequests: Bool { true }
    func traced(_ step: LockTraceStep, name: String) { steps.withLock { $0.append(step) } }
    var all: [LockTraceStep] { steps.withLock { $0 } }
}

/// Refuses every read at a past revision, as a member that has not applied that revision yet
/// (or has compacted it) does.
private final class MemberBehind: ForwardingStore {
    let client: EtcdClient
    let refusals = Mutex(0)

    init(_ client: EtcdClient) { self.client = client }

    func txn(_ txn: Txn, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        let readsThePast = txn.success.contains { operation in
            if case .range(let read) = operation { return read.revision != nil }
            return false
        }
        guard !readsThePast else {
            refusals.withLock { $0 += 1 }
            throw EtcdError(code: .futureRevision, message: "mvcc: required revision is a future revision")
        }
        return try await client.txn(txn, retry: retry, timeout: timeout)
    }
}

/// Once armed, an operator force-releases the lock's holder just before the next look goes out.
private final class ForceReleaseBeforeNextLook: ForwardingStore {
    let client: EtcdClient
    let name: String
    let namespace: String
    let armed = Mutex(false)
    let forceReleased = Mutex(false)
    init(_ client: EtcdClient, name: String, namespace: String) {
        self.client = client
        self.name = name
        self.namespace = namespace
    }
    func txn(_ txn: Txn, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        let isLook = txn.success.count == 2 && txn.success.allSatisfy { if case .range = $0 { true } else { false } }
        if isLook, armed.withLock({ armed in defer { armed = false }; return armed }) {
            if case .released = try await LockAdmin.forceRelease(name, namespace: namespace, client: client) {
                forceReleased.withLock { $0 = true }
            }
        }
        return try await client.txn(txn, retry: retry, timeout: timeout)
    }
}

/// Answers watches as a member that lags two revisions behind does: `created` at its own older
/// revision, events from the one after.
private final class WatchFromAMemberBehind: ForwardingStore {
    let client: EtcdClient
    init(_ client: EtcdClient) { self.client = client }
    func watch(_ ranges: [KeyRange], options: WatchOptions, timeout: Duration?) async throws -> EtcdWatch {
        let now = try await client.range(RangeRequest(.key("/test-handoff-probe")), timeout: nil).header.revision
        var behind = options
        behind.startRevision = Revision(now.rawValue - 1)
        return try await client.watch(ranges, options: behind, timeout: timeout)
    }
}

/// A holder takes mutex `name` (a namespace of its own); a waiter of another session, observed by
/// `waiterSteps`, queues behind it through `store`; once `isWaiting` says the waiter waits, the
/// holder releases. The holder's and then the waiter's tokens.
private func handOver(
    _ name: String, client: EtcdClient, store: some ForwardingStore, waiterSteps: StepRecorder,
    isWaiting: @escaping @Sendable () -> Bool
) async throws -> (held: FencingToken, next: FencingToken) {
    let namespace = "test-handoff-\(Int.random(in: 0..<1_000_000_000))"
    return try await EtcdSession.withSession(client) { holder in
        let mutex = try EtcdMutex(name, session: holder, namespace: namespace)
        let held = try await mutex.lock()
        return try await EtcdSession.withSession(client, observer: waiterSteps) { waiter in
            let contender = try EtcdMutex(name, session: waiter, namespace: namespace, store: store)
            async let acquired = contender.lock(timeout: .seconds(20))
            #expect(try await eventually(within: .seconds(10)) { isWaiting() })
            try await mutex.unlock(held)
            let next = try await acquired
            try await contender.unlock(next)
            return (held.token, next.token)
        }
    }
}

@Suite("a contended handoff's path through etcd", .timeLimit(.minutes(1)))
struct HandoffPathTests {
    @Test("a waiter enqueues and learns its blocker in one txn, watches it, looks once after the watch and once after the event")
    func waiterRequests() async throws {
        let namespace = "test-handoff-\(Int.random(in: 0..<1_000_000_000))"
        let waiterSteps = StepRecorder()
        let holderSteps = StepRecorder()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client, observer: holderSteps) { holder in
                let mutex = try EtcdMutex("hot", session: holder, namespace: namespace)
                let held = try await mutex.lock()
                try await EtcdSession.withSession(client, observer: waiterSteps) { waiter in
                    let contender = try EtcdMutex("hot", session: waiter, namespace: namespace)
                    async let acquired = contender.lock()
                    // The waiter is listening once its look after the watch has been answered.
                    #expect(try await eventually(within: .seconds(10)) { waiterSteps.all.filter { $0 == .lookAnswered }.count == 1 })
                    try await mutex.unlock(held)
                    try await contender.unlock(try await acquired)
                }
            }
        }
        // A member that has not applied the event's revision yet refuses the look after it (one
        // more look, through the leader): possible with several members, so not counted here.
        let answered = waiterSteps.all.filter { $0 != .lookSent }
        #expect(
            answered == [
                .enqueueSent, .enqueueAnswered, .watchSent, .watchCreated, .lookAnswered, .eventReceived, .lookAnswered,
                .releaseSent, .releaseAnswered,
            ])
        #expect(holderSteps.all == [.enqueueSent, .enqueueAnswered, .releaseSent, .releaseAnswered])
    }

    @Test("a waiter whose key is deleted after the event that ended its wait (a force-release) is refused, never admitted beside the next holder")
    func keyDeletedAfterTheEvent() async throws {
        let namespace = "test-handoff-\(Int.random(in: 0..<1_000_000_000))"
        let waiterSteps = StepRecorder()
        try await TestEnvironment.withClient { client in
            let store = ForceReleaseBeforeNextLook(client, name: "m", namespace: namespace)
            try await EtcdSession.withSession(client) { holder in
                let mutex = try EtcdMutex("m", session: holder, namespace: namespace)
                let held = try await mutex.lock()
                try await EtcdSession.withSession(client, observer: waiterSteps) { waiter in
                    let contender = try EtcdMutex("m", session: waiter, namespace: namespace, store: store)
                    let acquired = Task { try await contender.lock(timeout: .seconds(20)) }
                    #expect(try await eventually(within: .seconds(10)) { waiterSteps.all.filter { $0 == .lookAnswered }.count == 1 })
                    // The event comes from this release; before the waiter's next look, an operator
                    // force-releases the head of the queue, which by then is the waiter.
                    store.armed.withLock { $0 = true }
                    try await mutex.unlock(held)
                    await #expect { _ = try await acquired.value } throws: { ($0 as? LockError)?.code == .ownershipLost }
                    #expect(store.forceReleased.withLock { $0 })
                }
            }
        }
    }

    @Test("a watch answered by a member that has not applied the waiter's own put does not cost the waiter its place")
    func watchFromAMemberBehind() async throws {
        let waiterSteps = StepRecorder()
        try await TestEnvironment.withClient { client in
            let tokens = try await handOver("lag", client: client, store: WatchFromAMemberBehind(client), waiterSteps: waiterSteps) {
                waiterSteps.all.contains(.watchCreated)
            }
            #expect(tokens.next > tokens.held)
        }
    }

    @Test("a member that refuses reads at the watch's start revision costs one ordinary look; the waiter is admitted all the same")
    func lookAtEventRevisionRefused() async throws {
        let waiterSteps = StepRecorder()
        try await TestEnvironment.withClient { client in
            let store = MemberBehind(client)
            let tokens = try await handOver("behind", client: client, store: store, waiterSteps: waiterSteps) {
                waiterSteps.all.filter { $0 == .lookAnswered }.count == 1
            }
            #expect(tokens.next > tokens.held)
            #expect(store.refusals.withLock { $0 } == 1)
        }
        // The refused look at the watch's start and its ordinary stand-in; the look after the event.
        #expect(waiterSteps.all.filter { $0 == .lookSent }.count == 3)
        #expect(waiterSteps.all.filter { $0 == .lookAnswered }.count == 2)
    }

    @Test("an observer that does not trace receives no trace calls")
    func untraced() async throws {
        final class Untraced: LockObserver {
            let calls = Mutex(0)
            func traced(_ step: LockTraceStep, name: String) { calls.withLock { $0 += 1 } }
        }
        let observer = Untraced()
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client, observer: observer) { session in
                let mutex = try EtcdMutex("quiet", session: session, namespace: "test-handoff-\(Int.random(in: 0..<1_000_000_000))")
                try await mutex.unlock(try await mutex.lock())
            }
        }
        #expect(observer.calls.withLock { $0 } == 0)
    }
}
