import Etcd
import EtcdLock
import Foundation
import Synchronization

extension BenchCommand {
    /// Lock+unlock cycles per second with `lockers` tasks, each on a lock of its own, for `duration`.
    func runThroughput() async throws -> ExitStatus {
        try await EtcdClient.withClient(configuration) { client in
            try await EtcdSession.withSession(client, ttl: .seconds(30)) { session in
                let run = UUID().uuidString.prefix(8)
                let cycles = Counter()
                // Half a second of warm-up (connections opened, caches filled) is not counted.
                let start = ContinuousClock.now + .milliseconds(500)
                let end = start + duration
                let before = Counter()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        try await Task.sleep(until: start)
                        before.add(client.requestsSent)
                    }
                    for index in 0..<lockers {
                        group.addTask {
                            let mutex = try EtcdMutex("\(run)-\(index)", session: session, namespace: "bench")
                            while ContinuousClock.now < start {
                                try await mutex.unlock(try await mutex.lock())
                            }
                            while ContinuousClock.now < end {
                                try await mutex.unlock(try await mutex.lock())
                                cycles.add()
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                let seconds = Self.seconds(ContinuousClock.now - start)
                Console.out(
                    String(
                        format: #"{"client":"EtcdClient","op":"throughput","lockers":%d,"cycles":%d,"cycles_per_second":%.1f,"requests_per_cycle":%.2f}"#,
                        lockers, cycles.value, Double(cycles.value) / seconds,
                        Double(client.requestsSent - before.value) / Double(max(1, cycles.value))))
            }
            return .success
        }
    }

    /// The per-request floor through this client: `lockers` tasks sending the two txns of a lock
    /// cycle (create a fresh key if absent, then delete it if still the one created), one
    /// request each, coalescing off, for `duration`.
    func runTxnRate() async throws -> ExitStatus {
        var floor = connection.configuration
        floor.txnCoalescing = .disabled
        return try await EtcdClient.withClient(floor) { client in
            let run = UUID().uuidString.prefix(8)
            let sent = Counter()
            // Half a second of warm-up is not counted, as in the throughput benchmark.
            let start = ContinuousClock.now + .milliseconds(500)
            let end = start + duration
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 0..<lockers {
                    group.addTask {
                        var counter = 0
                        while ContinuousClock.now < end {
                            counter += 1
                            let key = EtcdKey("/etcdlock-bench/txn-rate/\(run)/\(index)-\(counter)")
                            let created = try await client.txn(
                                Txn(if: [.createRevision(of: key, .equal, .zero)], then: [.put(key, value: "owner".utf8)]))
                            _ = try await client.txn(
                                Txn(if: [.createRevision(of: key, .equal, created.header.revision)], then: [.delete(.key(key))]))
                            if ContinuousClock.now >= start { sent.add(2) }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = Self.seconds(ContinuousClock.now - start)
            _ = try await client.delete(.prefix("/etcdlock-bench/txn-rate/\(run)/"))
            Console.out(
                String(
                    format: #"{"client":"EtcdClient","op":"txn_per_second","connections":%d,"rate":%.1f}"#,
                    lockers, Double(sent.value) / seconds))
            return .success
        }
    }

    /// etcd requests per handoff with `waiters` sessions queued on one lock: one holder releases,
    /// then each waiter takes and releases the lock in turn.
    func runQueue() async throws -> ExitStatus {
        try await EtcdClient.withClient(configuration) { client in
            let name = "queue-\(UUID().uuidString.prefix(8))"
            let choice = queueRecipe
            try await EtcdSession.withSession(client, ttl: .seconds(60)) { holderSession in
                let holder = try LockRecipe(choice, name: name, session: holderSession, namespace: "bench", lockDelay: nil)
                // The holder takes every permit, so all waiters queue behind it.
                var held: [LockGuard] = []
                if case .permits(let permits) = choice {
                    for _ in 0..<permits { held.append(try await holder.acquire(timeout: nil)) }
                } else {
                    held.append(try await holder.acquire(timeout: nil))
                }
                let prefix = holder.prefix
                let measured = Counter()
                let handoffs = Counter()
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<waiters {
                        group.addTask {
                            try await EtcdSession.withSession(client, ttl: .seconds(60)) { session in
                                let recipe = try LockRecipe(choice, name: name, session: session, namespace: "bench", lockDelay: nil)
                                let lock = try await recipe.acquire(timeout: nil)
                                handoffs.add()
                                _ = await recipe.releaseUntilDone(lock, onFailure: { _ in })
                            }
                        }
                    }
                    // Wait until every waiter is queued and quiet before counting: between two polls
                    // only the poll itself may have been sent.
                    var previous = -10
                    while true {
                        let queued = try await client.range(RangeRequest(.prefix(prefix), countOnly: true)).count
                        let sent = client.requestsSent
                        if queued == waiters + held.count && sent == previous + 1 { break }
                        previous = sent
                        try await Task.sleep(for: .milliseconds(200))  // polling etcd's queue length
                    }
                    measured.add(client.requestsSent)
                    for lock in held { _ = await holder.releaseUntilDone(lock, onFailure: { _ in }) }
                    try await group.waitForAll()
                }
                // Each waiter's session revokes its lease at the end: not part of a handoff; the
                // holder's releases are.
                let spent = client.requestsSent - measured.value - waiters
                Console.out(
                    String(
                        format: #"{"client":"EtcdClient","op":"queue","recipe":"%@","waiters":%d,"handoffs":%d,"requests_per_handoff":%.2f}"#,
                        recipeLabel, waiters, handoffs.value, Double(spent) / Double(max(1, handoffs.value))))
            }
            return .success
        }
    }

    /// Read+unlock cycles per second with `lockers` readers of one read/write lock, each in a
    /// session of its own: readers never wait for each other, so this should match `lockers`
    /// tasks on locks of their own (`throughput`).
    func runReaders() async throws -> ExitStatus {
        try await EtcdClient.withClient(configuration) { client in
            let name = "readers-\(UUID().uuidString.prefix(8))"
            let cycles = Counter()
            let start = ContinuousClock.now + .milliseconds(500)
            let end = start + duration
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<lockers {
                    group.addTask {
                        try await EtcdSession.withSession(client, ttl: .seconds(30)) { session in
                            let lock = try EtcdReadWriteLock(name, session: session, namespace: "bench")
                            while ContinuousClock.now < start { try await lock.unlock(try await lock.read()) }
                            while ContinuousClock.now < end {
                                try await lock.unlock(try await lock.read())
                                cycles.add()
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            let seconds = Self.seconds(ContinuousClock.now - start)
            Console.out(
                String(
                    format: #"{"client":"EtcdClient","op":"readers","lockers":%d,"cycles":%d,"cycles_per_second":%.1f}"#,
                    lockers, cycles.value, Double(cycles.value) / seconds))
            return .success
        }
    }

    /// Time from the leader's session closing to an observer seeing the next leader.
    func runElection() async throws -> ExitStatus {
        try await EtcdClient.withClient(configuration) { client in
            let name = "election-\(UUID().uuidString.prefix(8))"
            var samples: [Duration] = []
            try await EtcdSession.withSession(client, ttl: .seconds(30)) { observerSession in
                let observer = try EtcdElection(name, session: observerSession, namespace: "bench")
                let changes = try await observer.observe()
                var seen = changes.makeAsyncIterator()
                _ = try await seen.next()
                for round in 0..<rounds {
                    let (leaderReady, signal) = AsyncStream.makeStream(of: Void.self)
                    let closed = Mutex<ContinuousClock.Instant?>(nil)
                    async let successor: Void = EtcdSession.withSession(client, ttl: .seconds(30)) { session in
                        let election = try EtcdElection(name, session: session, namespace: "bench")
                        var ready = leaderReady.makeAsyncIterator()
                        await ready.next()
                        let leadership = try await election.campaign(value: "b\(round)".utf8)
                        try await election.resign(leadership)
                    }
                    try await EtcdSession.withSession(client, ttl: .seconds(30)) { session in
                        let election = try EtcdElection(name, session: session, namespace: "bench")
                        _ = try await election.campaign(value: "a\(round)".utf8)
                        while try await seen.next()??.valueString != "a\(round)" {}
                        signal.yield()
                        // Wait until the successor queued behind us, then leave.
                        while try await client.range(RangeRequest(.prefix(election.prefix), countOnly: true)).count < 2 {
                            try await Task.sleep(for: .milliseconds(5))  // polling etcd for the successor's key
                        }
                        closed.withLock { $0 = ContinuousClock.now }
                    }
                    while try await seen.next()??.valueString != "b\(round)" {}
                    if let start = closed.withLock({ $0 }) { samples.append(ContinuousClock.now - start) }
                    try await successor
                    while try await seen.next() != .some(nil) {}
                }
                changes.cancel()
            }
            try await report("election_failover", (samples, .zero))
            return .success
        }
    }

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

/// A counter shared between benchmark tasks.
private final class Counter: Sendable {
    private let count = Mutex(0)
    func add(_ delta: Int = 1) { count.withLock { $0 += delta } }
    var value: Int { count.withLock { $0 } }
}
