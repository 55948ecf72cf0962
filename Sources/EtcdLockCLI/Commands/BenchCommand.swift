import Etcd
import Foundation

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
        Usage: etcdlock bench client [--endpoints URLS] [--requests N] [--key KEY]

        \(ConnectionOptions.help)
          --requests N       sequential requests per operation (default 2000)
          --key KEY          the key the requests use (default /etcdlock-bench/key)

        Prints one JSON object per operation: p50_ms, p99_ms, cpu_us_per_request.
        """

    let connection: ConnectionOptions
    let requests: Int
    let key: String

    init(parsing arguments: inout Arguments) throws {
        let suite = try arguments.positional("a benchmark name (client)")
        guard suite == "client" else { throw UsageError(description: "unknown benchmark '\(suite)'") }
        connection = try ConnectionOptions(parsing: &arguments)
        let text = try arguments.option("--requests") ?? "2000"
        guard let requests = Int(text), requests >= 10, requests <= 1_000_000 else {
            throw UsageError(description: "--requests must be a whole number from 10 to 1000000")
        }
        self.requests = requests
        key = try arguments.option("--key") ?? "/etcdlock-bench/key"
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
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
            return .success
        }
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

    private func report(_ operation: String, _ result: (samples: [Duration], cpu: Duration)) async throws {
        let sorted = result.samples.sorted()
        func milliseconds(_ duration: Duration) -> Double {
            Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
        }
        let p50 = milliseconds(sorted[sorted.count / 2])
        let p99 = milliseconds(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])
        let cpu = milliseconds(result.cpu) * 1000 / Double(requests)
        Console.out(
            String(
                format: #"{"client":"EtcdClient","op":"%@","requests":%d,"p50_ms":%.4f,"p99_ms":%.4f,"cpu_us_per_request":%.2f}"#,
                operation, requests, p50, p99, cpu))
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
