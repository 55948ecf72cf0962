import Etcd
@testable import EtcdLock
import Synchronization

/// A unique namespace per test, so tests never share a queue.
func recipeNamespace(_ label: String) -> String { "\(label)-\(Int.random(in: 0..<1_000_000_000))" }

/// The keys queued under `prefix`, oldest first.
func queuedKeys(_ client: EtcdClient, _ prefix: EtcdKey) async throws -> [KeyValue] {
    try await client.range(RangeRequest(.prefix(prefix), sort: .init(.createRevision, .ascending))).keyValues
}

/// Who is inside a protected section right now, checked on every entry: the test's record of
/// what the recipes promise (readers together, a writer alone, at most N permit holders).
final class Occupancy: Sendable {
    private struct State {
        var readers = 0
        var writers = 0
        var holders = 0
        var mostReaders = 0
        var mostHolders = 0
        var violations: [String] = []
    }

    private let state = Mutex(State())

    func enterRead() {
        state.withLock {
            $0.readers += 1
            $0.mostReaders = max($0.mostReaders, $0.readers)
            if $0.writers > 0 { $0.violations.append("a reader entered while a writer held the lock") }
        }
    }

    func leaveRead() { state.withLock { $0.readers -= 1 } }

    func enterWrite() {
        state.withLock {
            $0.writers += 1
            if $0.writers > 1 { $0.violations.append("two writers held the lock") }
            if $0.readers > 0 { $0.violations.append("a writer entered while \($0.readers) readers held the lock") }
        }
    }

    func leaveWrite() { state.withLock { $0.writers -= 1 } }

    /// Enters a section that admits at most `limit` holders.
    func enter(limit: Int) {
        state.withLock {
            $0.holders += 1
            $0.mostHolders = max($0.mostHolders, $0.holders)
            if $0.holders > limit { $0.violations.append("\($0.holders) holders at once; at most \(limit) allowed") }
        }
    }

    func leave() { state.withLock { $0.holders -= 1 } }

    var holders: Int { state.withLock { $0.holders } }
    var mostReaders: Int { state.withLock { $0.mostReaders } }
    var mostHolders: Int { state.withLock { $0.mostHolders } }
    var violations: [String] { state.withLock { $0.violations } }
}

/// A flag set from any task.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Passes every call to a real client, except that the first transaction matching `matches`
/// fails: before reaching etcd (`applied: false`), or after etcd applied it, its answer lost
/// (`applied: true`, as when a member applies a request and dies). For deterministic races.
final class FailFirstTxn: ForwardingStore {
    let client: EtcdClient
    private let matches: @Sendable (Txn) -> Bool
    private let applied: Bool
    private let failed = Mutex(false)

    init(_ client: EtcdClient, applied: Bool, where matches: @escaping @Sendable (Txn) -> Bool) {
        self.client = client
        self.applied = applied
        self.matches = matches
    }

    /// Whether the failure happened yet.
    var hasFailed: Bool { failed.withLock { $0 } }

    private func shouldFail(_ txn: Txn) -> Bool {
        guard matches(txn) else { return false }
        return failed.withLock { failed in
            defer { failed = true }
            return !failed
        }
    }

    private func send(_ txn: Txn, _ forward: () async throws -> TxnResult) async throws -> TxnResult {
        guard shouldFail(txn) else { return try await forward() }
        if applied { _ = try await forward() }
        throw EtcdError(code: .unavailable, message: "injected: the answer was lost", mayHaveBeenApplied: applied)
    }

    func txn(_ txn: Txn, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        try await send(txn) { try await client.txn(txn, retry: retry, timeout: timeout) }
    }

    func txn(_ txn: Txn, coalescingGroup: String, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        try await send(txn) { try await client.txn(txn, coalescingGroup: coalescingGroup, retry: retry, timeout: timeout) }
    }
}

extension Txn {
    /// Whether one of the operations it runs when its compares hold puts `key`.
    func puts(where matches: (EtcdKey) -> Bool) -> Bool {
        success.contains { operation in
            if case .put(let put) = operation { return matches(put.key) }
            return false
        }
    }
}

/// Passes every call to a real client and reports each watch it creates (its ranges), so a test
/// can wait until a waiter watches what it should before changing the queue.
final class WatchReporter: ForwardingStore {
    let client: EtcdClient
    let watches: AsyncStream<[KeyRange]>
    private let report: AsyncStream<[KeyRange]>.Continuation

    init(_ client: EtcdClient) {
        self.client = client
        (watches, report) = AsyncStream.makeStream(of: [KeyRange].self)
    }

    /// Waits until a watch on `range` was created.
    func waitForWatch(on range: KeyRange) async {
        for await ranges in watches where ranges.contains(range) { return }
    }

    func watch(_ ranges: [KeyRange], options: WatchOptions, timeout: Duration?) async throws -> EtcdWatch {
        let watch = try await client.watch(ranges, options: options, timeout: timeout)
        report.yield(ranges)
        return watch
    }
}

/// A store that passes every call to `client`: a test's store replaces only the calls it
/// interposes on.
protocol ForwardingStore: QueueStore {
    var client: EtcdClient { get }
}

extension ForwardingStore {
    func txn(_ txn: Txn, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        try await client.txn(txn, retry: retry, timeout: timeout)
    }

    func txn(_ txn: Txn, coalescingGroup: String, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult {
        try await client.txn(txn, coalescingGroup: coalescingGroup, retry: retry, timeout: timeout)
    }

    func range(_ request: RangeRequest, timeout: Duration?) async throws -> RangeResult {
        try await client.range(request, timeout: timeout)
    }

    func watch(_ ranges: [KeyRange], options: WatchOptions, timeout: Duration?) async throws -> EtcdWatch {
        try await client.watch(ranges, options: options, timeout: timeout)
    }
}
