import Etcd
import EtcdLock
import EtcdTestSupport
import Synchronization
import Testing

/// A client that merges as soon as one coalescible txn is in flight.
private func withEagerClient<Result: Sendable>(_ body: (EtcdClient) async throws -> Result) async throws -> Result {
    // One txn in flight: one group's 20 txns go out one after another, each within its request
    // timeout from the moment it was submitted, so the timeout leaves room for a loaded machine.
    var configuration = try await TestEnvironment.configuration(requestTimeout: .seconds(30))
    configuration.txnCoalescing = .init(maximumInFlight: 1)
    return try await EtcdClient.withClient(configuration, body)
}

/// Create-if-absent of `key`: puts it and reads it back, or reads what is there.
private func createIfAbsent(_ key: EtcdKey, value: String) -> Txn {
    Txn(
        if: [.createRevision(of: key, .equal, .zero)],
        then: [.put(key, value: Array(value.utf8)), .range(RangeRequest(.key(key)))],
        else: [.range(RangeRequest(.key(key)))])
}

/// Sends `txns` at once, each in its own group unless `group` is given; results in order.
private func sendConcurrently(_ client: EtcdClient, _ txns: [Txn], group: String? = nil) async throws -> [TxnResult] {
    try await withThrowingTaskGroup(of: (Int, TxnResult).self) { tasks in
        for (index, txn) in txns.enumerated() {
            tasks.addTask { (index, try await client.txn(txn, coalescingGroup: group ?? "g\(index)")) }
        }
        var results = [TxnResult?](repeating: nil, count: txns.count)
        for try await (index, result) in tasks { results[index] = result }
        return results.map { $0! }
    }
}

/// The counter values each lock's holders wrote, with their tokens.
private final class Writes: Sendable {
    private let byLock = Mutex<[Int: [(value: Int, token: FencingToken)]]>([:])
    func add(lock: Int, value: Int, token: FencingToken) { byLock.withLock { $0[lock, default: []].append((value, token)) } }
    func of(_ lock: Int) -> [(value: Int, token: FencingToken)] { byLock.withLock { $0[lock] ?? [] } }
}

@Suite("coalesced transactions", .timeLimit(.minutes(2)))
struct CoalescingIntegrationTests {
    @Test("concurrent txns travel together, and each caller gets the result it would get alone")
    func merged() async throws {
        try await withEagerClient { client in
            try await withTestPrefix(client) { prefix in
                let keys = (0..<60).map { prefix.key.appending("k\($0)") }
                let before = client.requestsSent
                let results = try await sendConcurrently(client, keys.map { createIfAbsent($0, value: $0.description) })
                let requests = client.requestsSent - before
                #expect(requests < 60, "no txn was merged: \(requests) requests")
                for (key, result) in zip(keys, results) {
                    #expect(result.succeeded)
                    guard result.responses.count == 2, case .range(let read) = result.responses[1] else {
                        Issue.record("\(key): \(result.responses)")
                        continue
                    }
                    #expect(read.keyValues.first?.valueString == key.description)
                    #expect(read.keyValues.first?.createRevision == result.header.revision)
                }
            }
        }
    }

    @Test("a merged txn whose compare fails falls back: each gets its own branch, nothing is applied twice")
    func mixedBatchFallsBack() async throws {
        try await withEagerClient { client in
            try await withTestPrefix(client) { prefix in
                let keys = (0..<40).map { prefix.key.appending("k\($0)") }
                for key in keys.enumerated() where key.offset.isMultiple(of: 3) {
                    _ = try await client.put(key.element, value: Array("existing".utf8))
                }
                let results = try await sendConcurrently(client, keys.map { createIfAbsent($0, value: "new") })
                for (index, result) in results.enumerated() {
                    let existed = index.isMultiple(of: 3)
                    #expect(result.succeeded == !existed, "key \(index)")
                    let read = result.responses.last.flatMap { response -> RangeResult? in
                        if case .range(let read) = response { return read }
                        return nil
                    }
                    #expect(read?.keyValues.first?.valueString == (existed ? "existing" : "new"), "key \(index)")
                }
                let stored = try await client.range(RangeRequest(.prefix(prefix.key)))
                #expect(stored.keyValues.count == 40)
                #expect(stored.keyValues.allSatisfy { $0.version == 1 }, "a key was written twice")
            }
        }
    }

    @Test("txns of one group are never merged: their revisions all differ")
    func groupsStayApart() async throws {
        try await withEagerClient { client in
            try await withTestPrefix(client) { prefix in
                let keys = (0..<20).map { prefix.key.appending("k\($0)") }
                let results = try await sendConcurrently(client, keys.map { createIfAbsent($0, value: "v") }, group: "one")
                #expect(Set(results.map(\.header.revision)).count == 20)
            }
        }
    }

    @Test("many lockers on several locks with coalescing: counters exact, tokens strictly increase per lock")
    func mutexUnderCoalescing() async throws {
        let locks = 6
        let rounds = 5
        let sessionsPerLock = 3
        let records = Writes()
        try await withEagerClient { client in
            try await withTestPrefix(client) { prefix in
                let namespace = "coalesce-\(Int.random(in: 0..<1_000_000_000))"
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for lock in 0..<locks {
                        for _ in 0..<sessionsPerLock {
                            group.addTask {
                                try await EtcdSession.withSession(client, ttl: .seconds(10)) { session in
                                    let mutex = try EtcdMutex("lock-\(lock)", session: session, namespace: namespace)
                                    let counter = prefix.key.appending("counter-\(lock)")
                                    for _ in 0..<rounds {
                                        let held = try await mutex.lock(timeout: .seconds(30))
                                        let current = try await client.range(RangeRequest(.key(counter)))
                                        let value = (Int(current.keyValues.first?.valueString ?? "0") ?? 0) + 1
                                        try await mutex.fenced(held, Txn(then: [.put(counter, value: Array("\(value)".utf8))]))
                                        records.add(lock: lock, value: value, token: held.token)
                                        try await mutex.unlock(held)
                                    }
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                for lock in 0..<locks {
                    let stored = try await client.range(RangeRequest(.key(prefix.key.appending("counter-\(lock)"))))
                    #expect(stored.keyValues.first?.valueString == "\(sessionsPerLock * rounds)")
                    let history = records.of(lock).sorted { $0.value < $1.value }
                    #expect(history.map(\.value) == Array(1...(sessionsPerLock * rounds)))
                    #expect(zip(history, history.dropFirst()).allSatisfy { $0.token < $1.token })
                }
                let left = try await client.range(RangeRequest(.prefix("/etcdlock/\(namespace)/"), countOnly: true)).count
                #expect(left == 0)
            }
        }
    }
}
