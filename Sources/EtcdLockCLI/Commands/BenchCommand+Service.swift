import Etcd
import EtcdLock
import Foundation

/// `etcdlock bench service --service URL`: what the HTTP lock service costs on top of the
/// library. The service's acquire is a stateless handle's (``LockHandle``: a lease of its own,
/// the key, the wait, the hand-over) and its release deletes the key and revokes the lease, so
/// the library's own figure is ``LockHandle`` acquire + release in this process, and the
/// difference is the HTTP hop (parsing, the replica's scheduling, the second connection).
///
/// Prints `service_cycle` and `handle_cycle` (sequential acquire+release, p50/p99), then
/// `service_throughput` and `handle_throughput` (cycles/s with `--lockers N` concurrent callers,
/// each on its own lock, for `--seconds`).
extension BenchCommand {
    func runService() async throws -> ExitStatus {
        guard let serviceURL else { throw UsageError(description: "bench service needs --service URL") }
        return try await EtcdClient.withClient(configuration) { client in
            try await EtcdClient.withClient(EtcdClient.Configuration(endpoints: [serviceURL])) { service in
                let run = UUID().uuidString.prefix(8).lowercased()
                let viaService: @Sendable (String) async throws -> Void = { name in
                    try await Self.serviceCycle(service, name: name)
                }
                let viaLibrary: @Sendable (String) async throws -> Void = { name in
                    guard case .acquired(let handle, _) = try await LockHandle.acquire(
                        name, client: client, ttl: .seconds(30), owner: "bench", wait: .zero)
                    else { throw ServiceBenchFailure(description: "bench lock \(name) was held by someone else") }
                    try await handle.release(client: client)
                }
                for _ in 0..<20 {
                    try await viaService("bench-\(run)-warm")
                    try await viaLibrary("bench-\(run)-warm")
                }
                // Alternating, so both see the same machine.
                var serviceCycles: [Duration] = []
                var libraryCycles: [Duration] = []
                for _ in 0..<(requests / 2) {
                    serviceCycles.append(try await ContinuousClock().measure { try await viaService("bench-\(run)-seq") })
                    libraryCycles.append(try await ContinuousClock().measure { try await viaLibrary("bench-\(run)-seq") })
                }
                try await report("service_cycle", (serviceCycles, .zero))
                try await report("handle_cycle", (libraryCycles, .zero))
                for (operation, cycle) in [("service_throughput", viaService), ("handle_throughput", viaLibrary)] {
                    let cycles = try await Self.cyclesPerSecond(lockers: lockers, for: duration, name: "bench-\(run)-\(operation)", cycle)
                    Console.out(
                        String(format: #"{"client":"EtcdClient","op":"%@","lockers":%d,"cycles_per_second":%.1f}"#, operation, lockers, cycles))
                }
                return .success
            }
        }
    }

    /// One acquire (a try) and release through the service.
    private static func serviceCycle(_ service: EtcdClient, name: String) async throws {
        let acquired = try await service.plainPost(
            "/v1/locks/\(name):acquire", body: Array(#"{"ttl_seconds": 30, "wait_seconds": 0, "owner": "bench"}"#.utf8),
            endpoint: 0, timeout: .seconds(10))
        guard acquired.status == 200,
            let answer = try JSONSerialization.jsonObject(with: Data(acquired.body)) as? [String: Any],
            let token = answer["token"] as? NSNumber, let lease = answer["lease"] as? NSNumber
        else { throw ServiceBenchFailure(description: "\(service.endpointURLs[0]) is not an etcdlock serve replica that takes this bench's calls: it answered \(acquired.status) to an acquire of \(name)") }
        let released = try await service.plainPost(
            "/v1/locks/\(name):release", body: Array(#"{"token": \#(token), "lease": \#(lease)}"#.utf8), endpoint: 0,
            timeout: .seconds(10))
        guard released.status == 200 else { throw ServiceBenchFailure(description: "the service answered \(released.status) to a release") }
    }

    /// Cycles per second of `lockers` tasks running `cycle` on locks of their own for `duration`.
    private static func cyclesPerSecond(
        lockers: Int, for duration: Duration, name: String, _ cycle: @escaping @Sendable (String) async throws -> Void
    ) async throws -> Double {
        let end = ContinuousClock.now + duration
        let start = ContinuousClock.now
        let total = try await withThrowingTaskGroup(of: Int.self) { group in
            for locker in 0..<lockers {
                group.addTask {
                    var done = 0
                    while ContinuousClock.now < end {
                        try await cycle("\(name)-\(locker)")
                        done += 1
                    }
                    return done
                }
            }
            return try await group.reduce(0, +)
        }
        let elapsed = ContinuousClock.now - start
        return Double(total) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}

/// The service under measurement did not answer as an `etcdlock serve` replica does (exit 1, not
/// a usage error: the options were fine).
struct ServiceBenchFailure: Error, CustomStringConvertible {
    let description: String
}
