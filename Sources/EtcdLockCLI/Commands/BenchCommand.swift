import Etcd
import EtcdLock
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `etcdlock bench client`: sequential round-trip latency and client CPU per request of `range`
/// and of a `txn` through ``EtcdClient``. `scripts/bench` runs it next to an independent HTTP
/// client sending byte-identical requests to the same etcd, and prints the ratios.
struct BenchCommand: Command {
    static let name = "bench"
    static let abstract = "measure request latency and client CPU (see scripts/bench)"
    static let usage = """
        Usage: etcdlock bench client|txn-rate|locks|throughput|readers|queue|election|service [options]

        client:     sequential range, txn, and the exact acquire and release txns through EtcdClient.
        txn-rate:   acquire and release txns per second from --lockers N tasks, coalescing off (our floor).
        locks:      uncontended acquire, lock+unlock cycles, and handoffs between 16 contenders, with
                    where each handoff's time goes and the requests of a contended cycle by kind.
        throughput: lock+unlock cycles per second with --lockers N, each on its own lock.
        readers:    read+unlock cycles per second with --lockers N readers of one read/write lock.
        queue:      etcd requests per handoff with --waiters N queued on one lock (--recipe).
        election:   time from the leader's session closing to the next leader being observed.
        service:    acquire+release through `etcdlock serve` at --service URL beside the library's
                    LockHandle alone (sequential p50/p99), and cycles/s of --lockers N callers of each.

        \(ConnectionOptions.help)
          --requests N       operations per measurement (default 2000)
          --name KEY         the key (client) or lock name (locks) to use
          --lockers N        concurrent lockers (throughput, txn-rate; default 32)
          --seconds S        how long to run (throughput, txn-rate; default 5)
          --no-coalescing    send every txn alone (throughput, locks)
          --in-flight N      coalescible txns in flight before others are merged (default 2)
          --waiters N        queued waiters (queue, default 100)
          --recipe R         queue: mutex (default), rwlock (writers), or semaphore (2 permits)
          --rounds N         leader changes to time (election, default 10)
          --service URL      an `etcdlock serve` replica (service)

        Prints one JSON object per measurement: p50_ms, p99_ms and more.
        """

    let suite: String
    let connection: ConnectionOptions
    let requests: Int
    let key: String
    let lockers: Int
    /// Whether the client merges coalescible txns (`--no-coalescing` turns it off).
    let coalescing: Bool
    /// `--in-flight N`: coalescible sends in flight before others wait to be merged.
    let inFlight: Int?
    let duration: Duration
    let waiters: Int
    let rounds: Int

    init(parsing arguments: inout Arguments) throws {
        suite = try arguments.positional("a benchmark name (client, txn-rate, locks, throughput, readers, queue, election, service)")
        guard ["client", "txn-rate", "locks", "throughput", "readers", "queue", "election", "service"].contains(suite) else {
            throw UsageError(description: "unknown benchmark '\(suite)'")
        }
        connection = try ConnectionOptions(parsing: &arguments)
        let text = try arguments.option("--requests") ?? "2000"
        guard let requests = Int(text), requests >= 10, requests <= 1_000_000 else {
            throw UsageError(description: "--requests must be a whole number from 10 to 1000000")
        }
        self.requests = requests
        key = try arguments.option("--name") ?? "/etcdlock-bench/key"
        func count(_ option: String, _ fallback: Int, _ range: ClosedRange<Int>) throws -> Int {
            let text = try arguments.option(option) ?? String(fallback)
            guard let value = Int(text), range.contains(value) else {
                throw UsageError(description: "\(option) must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return value
        }
        lockers = try count("--lockers", 32, 1...512)
        coalescing = !arguments.flag("--no-coalescing")
        if let text = try arguments.option("--in-flight") {
            guard let value = Int(text), (1...64).contains(value) else {
                throw UsageError(description: "--in-flight must be a whole number from 1 to 64")
            }
            inFlight = value
        } else {
            inFlight = nil
        }
        duration = try parseSeconds(try arguments.option("--seconds") ?? "5", option: "--seconds")
        waiters = try count("--waiters", 100, 1...1000)
        rounds = try count("--rounds", 10, 1...1000)
        serviceURL = try arguments.option("--service")
        recipeLabel = try arguments.option("--recipe") ?? "mutex"
        switch recipeLabel {
        case "mutex": queueRecipe = .exclusive
        case "rwlock": queueRecipe = .write
        case "semaphore": queueRecipe = .permits(2)
        default: throw UsageError(description: "--recipe must be mutex, rwlock or semaphore")
        }
    }

    /// `--service`: the replica `service` measures.
    let serviceURL: String?

    /// `--recipe`: the recipe whose queue `queue` measures.
    let recipeLabel: String
    let queueRecipe: LockRecipe.Choice

    /// The client configuration of every suite.
    var configuration: EtcdClient.Configuration {
        var configuration = connection.configuration
        if !coalescing { configuration.txnCoalescing = .disabled }
        if let inFlight { configuration.txnCoalescing.maximumInFlight = inFlight }
        return configuration
    }

    func run() async throws -> ExitStatus {
        switch suite {
        case "locks": return try await runLocks()
        case "throughput": return try await runThroughput()
        case "queue": return try await runQueue()
        case "readers": return try await runReaders()
        case "election": return try await runElection()
        case "txn-rate": return try await runTxnRate()
        case "service": return try await runService()
        default: break
        }
        return try await EtcdClient.withClient(configuration) { client in
            let key = EtcdKey(self.key)
            _ = try await client.put(key, value: "x".utf8)
            // The same shape scripts/bench's baseline sends: a compare that holds, then a read.
            let txn = Txn(
                if: [.version(of: key, .greater, 0)], then: [.range(RangeRequest(.key(key)))],
                else: [.put(key, value: "x".utf8)])
            let range = RangeRequest(.key(key))
            for _ in 0..<100 { _ = try await client.range(range) }
            try await report("range", try await measure { _ = try await client.range(range) })
            try await report("txn", try await measure { _ = try await client.txn(txn) })
            try await measureLockTxns(client, prefix: key.appending("queue/"))
            return .success
        }
    }

    /// The floor of a lock cycle through this client: the exact acquire txn (create a leased key
    /// if absent, read the head) and release txn (delete it if still the one created), sent
    /// alone, as scripts/lib/http_floor.py sends them.
    private func measureLockTxns(_ client: EtcdClient, prefix: EtcdKey) async throws {
        let lease = try await client.grantLease(ttlSeconds: 60).id
        let head = RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .ascending))
        var acquireSamples: [Duration] = []
        var releaseSamples: [Duration] = []
        let cpuBefore = Self.processCPUTime()
        for index in 0..<requests {
            let key = prefix.appending(String(index, radix: 16))
            let acquire = Txn(
                if: [.createRevision(of: key, .equal, .zero)], then: [.put(key, value: "owner".utf8, lease: lease), .range(head)],
                else: [.range(RangeRequest(.key(key))), .range(head)])
            let started = ContinuousClock.now
            let created = try await client.txn(acquire, retry: .idempotent).header.revision
            let acquired = ContinuousClock.now
            _ = try await client.txn(Txn(if: [.createRevision(of: key, .equal, created)], then: [.delete(.key(key))]))
            releaseSamples.append(ContinuousClock.now - acquired)
            acquireSamples.append(acquired - started)
        }
        let cpu = Self.processCPUTime() - cpuBefore
        _ = try? await client.revokeLease(lease)
        try await report("acquire_txn", (acquireSamples, cpu / 2))
        try await report("release_txn", (releaseSamples, cpu / 2))
    }

    private func measure(_ operation: () async throws -> Void) async throws -> (samples: [Duration], cpu: Duration) {
        var samples: [Duration] = []
        samples.reserveCapacity(requests)
        let cpuBefore = Self.processCPUTime()
        let clock = ContinuousClock()
        for _ in 0..<requests {
            let start = clock.now
            try await operation()
            samples.append(clock.now - start)
        }
        return (samples, Self.processCPUTime() - cpuBefore)
    }

    /// Lock latencies: uncontended acquire, lock+unlock cycle, and handoffs among 16 contenders.
    private func runLocks() async throws -> ExitStatus {
        try await EtcdClient.withClient(configuration) { client in
            try await EtcdSession.withSession(client, ttl: .seconds(30)) { session in
                let name = "\(key)-\(UUID().uuidString.prefix(8))"
                let mutex = try EtcdMutex(name, session: session, namespace: "bench")
                for _ in 0..<50 { try await mutex.unlock(try await mutex.lock()) }
                var acquire: [Duration] = []
                var cycle: [Duration] = []
                let clock = ContinuousClock()
                let cpuBefore = Self.processCPUTime()
                for _ in 0..<requests {
                    let start = clock.now
                    let lock = try await mutex.lock()
                    acquire.append(clock.now - start)
                    try await mutex.unlock(lock)
                    cycle.append(clock.now - start)
                }
                let cpu = Self.processCPUTime() - cpuBefore
                try await report("lock_acquire_uncontended", (acquire, .zero))
                try await report("lock_unlock_cycle", (cycle, cpu))
                return ()
            }
            try await measureHandoffs(client, contenders: 16)
            return .success
        }
    }

    func report(_ operation: String, _ result: (samples: [Duration], cpu: Duration)) async throws {
        let sorted = result.samples.sorted()
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        }
        let p50 = milliseconds(sorted[sorted.count / 2])
        let p99 = milliseconds(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
        let cpu = milliseconds(result.cpu) * 1000 / Double(max(1, result.samples.count))
        Console.out(
            String(
                format: #"{"client":"EtcdClient","op":"%@","requests":%d,"p50_ms":%.4f,"p99_ms":%.4f,"cpu_us_per_request":%.2f}"#,
                operation, result.samples.count, p50, p99, cpu))
    }

    /// User plus system CPU time of this process so far.
    static func processCPUTime() -> Duration {
        var usage = rusage()
        #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        let user = Duration.seconds(usage.ru_utime.tv_sec) + .microseconds(Int64(usage.ru_utime.tv_usec))
        let system = Duration.seconds(usage.ru_stime.tv_sec) + .microseconds(Int64(usage.ru_stime.tv_usec))
        return user + system
    }
}
