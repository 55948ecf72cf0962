import Etcd
import Foundation

/// `etcdlock demo`: shows the client surviving the loss of an etcd member.
///
/// A counter is advanced by compare-and-swap transactions while a watch follows it. Halfway, the
/// member the watch streams from is killed (when `--cluster-dir` names a cluster started by
/// `scripts/etcd-cluster`). The verdict checks that the watch saw every value exactly once, in order.
struct DemoCommand: Command {
    static let name = "demo"
    static let abstract = "show the client riding out the loss of an etcd member"
    static let usage = """
        Usage: etcdlock demo [--endpoints URLS] [--cluster-dir DIR] [--steps N]

        \(ConnectionOptions.help)
          --cluster-dir DIR  a cluster started by scripts/etcd-cluster; member 1 is killed halfway
          --steps N          counter increments (default 40)
        """

    let connection: ConnectionOptions
    let clusterDirectory: String?
    let steps: Int

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        clusterDirectory = try arguments.option("--cluster-dir")
        let stepsText = try arguments.option("--steps") ?? "40"
        guard let steps = Int(stepsText), steps >= 2, steps <= 10_000 else {
            throw UsageError(description: "--steps must be a whole number from 2 to 10000")
        }
        self.steps = steps
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            let members = try await client.members()
            let status = try await client.status()
            Console.out("connected: \(members.members.count) member(s), leader \(String(status.leaderID, radix: 16)), revision \(status.header.revision)")
            let prefix = EtcdKey("/etcdlock-demo/\(UUID().uuidString.prefix(8))/")
            let counter = prefix.appending("counter")
            defer { Console.out("(keys under \(prefix) are left for inspection)") }

            let watch = try await client.watch(.prefix(prefix))
            Console.out("watching \(prefix) from revision \(watch.startRevision)")
            async let seen: [String] = {
                var values: [String] = []
                for try await event in watch {
                    values.append(event.keyValue.valueString)
                    if values.count == steps { break }
                }
                return values
            }()

            for step in 1...steps {
                if step == steps / 2 + 1, let clusterDirectory {
                    Console.out("killing member 1 (the member the watch streams from)…")
                    try await killMember(1, clusterDirectory)
                }
                try await increment(counter, to: step, client)
            }
            Console.out("wrote \(steps) values with compare-and-swap transactions")
            let values = try await seen
            let expected = (1...steps).map(String.init)
            let lost = Set(expected).subtracting(values).count
            let duplicated = values.count - Set(values).count
            let inOrder = values == expected
            Console.out("watch saw \(values.count) events: lost \(lost), duplicated \(duplicated), in order: \(inOrder)")
            let passed = inOrder && lost == 0 && duplicated == 0
            Console.out("verdict: \(passed ? "PASS" : "FAIL") (every counter value seen exactly once, in order)")
            return passed ? .success : .failure
        }
    }

    /// Sets the counter to `value` if it holds `value - 1`; safe to retry after an ambiguous
    /// failure because the compare fails once the write has landed.
    private func increment(_ counter: EtcdKey, to value: Int, _ client: EtcdClient) async throws {
        let expected: Txn.Compare =
            value == 1
            ? .createRevision(of: counter, .equal, .zero) : .value(of: counter, .equal, "\(value - 1)".utf8)
        let txn = Txn(if: [expected], then: [.put(counter, value: "\(value)".utf8)], else: [.range(RangeRequest(.key(counter)))])
        let end = ContinuousClock.now + .seconds(30)
        while true {
            do {
                let result = try await client.txn(txn, retry: .idempotent)
                if result.succeeded { return }
                if case .range(let current) = result.responses.first, current.keyValues.first?.valueString == "\(value)" {
                    return  // an earlier attempt landed
                }
                throw EtcdError(code: .failedPrecondition, message: "the counter moved unexpectedly")
            } catch let error as EtcdError where error.code != .failedPrecondition && ContinuousClock.now < end {
                Console.out("  step \(value): \(error.code), retrying")
            }
        }
    }

    private func killMember(_ index: Int, _ directory: String) async throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "scripts/etcd-cluster")
        process.arguments = ["kill-member", String(index), "--dir", directory]
        try process.run()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            process.terminationHandler = { _ in continuation.resume() }
        }
    }
}
