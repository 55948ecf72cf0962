import Etcd
import EtcdTestSupport
import Foundation
import Testing

/// Open descriptors and threads of this process.
private func processResources() throws -> (descriptors: Int, threads: Int) {
    let descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count
    let status = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
    let line = status.split(separator: "\n").first { $0.hasPrefix("Threads:") } ?? "Threads: 0"
    let threads = Int(line.split(separator: "\t").last.map(String.init)?.trimmingCharacters(in: .whitespaces) ?? "") ?? 0
    return (descriptors, threads)
}

@Suite("resources stay bounded", .serialized, .timeLimit(.minutes(3)))
struct ResourceIntegrationTests {
    @Test("10,000 sequential requests and 200 watches leave descriptors and threads where they started")
    func noLeaks() async throws {
        let configuration = try await TestEnvironment.configuration()
        let client = try EtcdClient(configuration: configuration)
        try await withTestPrefix(client) { prefix in
            // Warm up: the pool's first connection and the runtime's threads exist before counting.
            _ = try await client.put(prefix("warm"), value: [0])
            let before = try processResources()
            for index in 0..<10_000 {
                if index % 2 == 0 {
                    _ = try await client.range(RangeRequest(.key(prefix("warm"))))
                } else {
                    _ = try await client.txn(Txn(if: [.version(of: prefix("warm"), .greater, 0)]))
                }
            }
            for _ in 0..<200 {
                let watch = try await client.watch(prefix.range)
                watch.cancel()
            }
            // Counted for the whole test process, where other suites run at the same time (each
            // with its sockets and threads): a margin for them, far below what a leak per request
            // (10,000) or per watch (200) would leave.
            let closed = try await eventually(within: .seconds(5)) {
                try processResources().descriptors <= before.descriptors + 32
            }
            let after = try processResources()
            #expect(closed, "descriptors: \(before.descriptors) before, \(after.descriptors) after")
            #expect(after.threads <= before.threads + 16, "threads: \(before.threads) before, \(after.threads) after")
        }
        let withClient = try processResources()
        await client.shutdown()
        let released = try await eventually(within: .seconds(5)) {
            try processResources().descriptors < withClient.descriptors
        }
        #expect(released, "shutdown closes the pool's sockets and the wake-up pipe")
    }
}
