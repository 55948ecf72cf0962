import Etcd
import EtcdLock
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `etcdlock demo`: worker processes share a lock under faults, and fencing keeps the data exact.
///
/// Workers (`etcdlock demo-worker`) take the lock, write an external resource guarded by a
/// ``FencingGate``, and increment a counter in etcd with fenced transactions. The coordinator
/// freezes one holder with SIGSTOP past its TTL and resumes it (its stale writes must be
/// rejected), and kills an etcd member mid-run when `--cluster-dir` names a cluster started by
/// `scripts/etcd-cluster`. With `--http-worker PROGRAM`, a worker in another language (the
/// repository's is Python, standard library only) takes the same lock through an `etcdlock serve`
/// the demo starts, and speaks the same report lines. It ends with a verdict line and exits 1 if
/// an invariant broke.
struct DemoCommand: Command {
    static let name = "demo"
    static let abstract = "worker processes share a lock under faults; fencing keeps data exact"
    static let usage = """
        Usage: etcdlock demo [--endpoints URLS] [--cluster-dir DIR] [--workers N] [--increments N] [--ttl S]
                             [--http-worker PROGRAM]

        \(ConnectionOptions.help)
          --cluster-dir DIR  a cluster started by scripts/etcd-cluster; member 1 is killed mid-run
          --workers N        worker processes (default 4)
          --increments N     increments per worker (default 12)
          --ttl SECONDS      the workers' session TTL (default 2)
          --http-worker PROGRAM  also run PROGRAM (scripts/lib/demo_http_worker.py) as one more
                             worker, taking the same lock through an etcdlock serve that the
                             demo starts (\(httpIncrements) increments)
        """

    let connection: ConnectionOptions
    let clusterDirectory: String?
    let workers: Int
    let increments: Int
    let ttl: Duration
    let ttlText: String
    let httpWorker: String?

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        clusterDirectory = try arguments.option("--cluster-dir")
        guard let workers = Int(try arguments.option("--workers") ?? "4"), (2...32).contains(workers) else {
            throw UsageError(description: "--workers must be from 2 to 32")
        }
        guard let increments = Int(try arguments.option("--increments") ?? "12"), (2...1000).contains(increments) else {
            throw UsageError(description: "--increments must be from 2 to 1000")
        }
        self.workers = workers
        self.increments = increments
        ttlText = try arguments.option("--ttl") ?? "2"
        ttl = try parseSeconds(ttlText, option: "--ttl")
        httpWorker = try arguments.option("--http-worker")
    }

    private struct Line: Sendable {
        var worker: Int
        var text: String
    }

    func run() async throws -> ExitStatus {
        let run = UUID().uuidString.prefix(8)
        let lockName = "demo-\(run)"
        let counter = EtcdKey("/etcdlock-demo/\(run)/counter")
        let resource = FileManager.default.temporaryDirectory.appendingPathComponent("etcdlock-demo-\(run).resource").path
        _ = FileManager.default.createFile(atPath: resource, contents: Data("0 0\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: resource) }
        let total = workers * increments + (httpWorker == nil ? 0 : Self.httpIncrements)
        Console.out("demo: \(workers) worker processes, \(increments) increments each, lock \"\(lockName)\", session TTL \(ttlText)s")

        // The service first: if it cannot start, no worker has been started yet.
        var service: (process: ChildProcess, url: String)?
        if httpWorker != nil {
            service = await startService()
            guard service != nil else {
                Console.error("etcdlock demo: etcdlock serve did not start within 15 s")
                return .unavailable
            }
        }
        let (lines, sink) = AsyncStream.makeStream(of: Line.self)
        var processes: [ChildProcess] = []
        for index in 0..<workers {
            processes.append(try startWorker(index, lockName: lockName, counter: counter, resource: resource, sink: sink))
        }
        if let httpWorker, let url = service?.url {
            Console.out("scene: worker \(workers) is \(httpWorker), no Swift: it takes the same lock through etcdlock serve at \(url)")
            // Plain HTTP to etcd's gateway: the scene is not offered with TLS (see `scripts/demo`).
            let command = [httpWorker, "--service", url, "--endpoints", connection.endpoints.joined(separator: ",")]
                + workerArguments(lockName: lockName, counter: counter, resource: resource, increments: Self.httpIncrements)
            processes.append(try startWorker(workers, command: command, sink: sink))
        }

        var acks = 0
        var httpAcks = 0
        var ambiguous = 0
        var done = 0
        var ackedTokens: [Int64] = []
        var frozen: (worker: Int, token: String)?
        var newestHolding: Int64 = 0
        var staleAccepted = 0
        var staleRejected = 0
        var memberKilled = clusterDirectory == nil
        var resumption: Task<Void, Never>?
        var failedWorkers = 0
        let deadline = ContinuousClock.now + .seconds(150)  // well inside the demo test's 3-minute limit
        // Wakes the loop below at the deadline even if every worker has gone silent.
        let deadlineTick = Task {
            try? await Task.sleep(until: deadline)
            sink.yield(Line(worker: -1, text: "deadline"))
        }
        defer { deadlineTick.cancel() }

        var iterator = lines.makeAsyncIterator()
        while done < processes.count, ContinuousClock.now < deadline {
            guard let line = await iterator.next() else { break }
            let fields = line.text.split(separator: " ").map(String.init)
            guard let kind = fields.first else { continue }
            let token = fields.count > 1 ? fields[1] : ""
            let tokenValue = Int64(token) ?? 0
            // A write of the frozen holder after a newer holder appeared is stale: it must be
            // rejected. (Its freeze lasts seconds, so line order across pipes is reliable here.)
            let isStale = frozen.map { $0.worker == line.worker && $0.token == token && newestHolding > tokenValue } ?? false
            if kind == "holding" { newestHolding = max(newestHolding, tokenValue) }
            switch kind {
            case "holding" where frozen == nil && acks >= total / 4:
                let victim = processes[line.worker]
                victim.send(SIGSTOP)
                frozen = (line.worker, token)
                Console.out("fault: froze worker \(line.worker) with SIGSTOP while it holds token \(token); resuming it after \(ttlText)s + 2s")
                let pause = ttl + .seconds(2)
                resumption = Task {
                    try? await Task.sleep(for: pause)
                    victim.send(SIGCONT)
                }
            case "ack", "resource-accepted":
                if isStale {
                    staleAccepted += 1
                    Console.out("VIOLATION: worker \(line.worker)'s stale write with token \(token) was accepted (\(kind))")
                }
                if kind == "ack" {
                    acks += 1
                    if line.worker == workers { httpAcks += 1 }
                    ackedTokens.append(tokenValue)
                }
            case "etcd-rejected", "resource-rejected":
                if isStale { staleRejected += 1 }
                let target = kind == "etcd-rejected" ? "etcd" : "the external resource"
                Console.out("fencing: worker \(line.worker) wrote with outdated token \(token) (newest holder: \(newestHolding)): \(target) rejected it")
            case "error":
                if line.text.contains("applied=true") { ambiguous += 1 }
                Console.out("worker \(line.worker): \(line.text)")
            case "done":
                done += 1
            case "exited":
                Console.out("worker \(line.worker) exited with status \(token) before finishing")
                failedWorkers += 1
                done += 1
            default:
                break
            }
            if !memberKilled, acks >= total / 2, let clusterDirectory {
                memberKilled = true
                Console.out("fault: killing etcd member 1 (the member the workers talk to first)")
                try await killMember(1, clusterDirectory)
            }
        }
        resumption?.cancel()
        await resumption?.value
        for process in processes { process.send(SIGCONT) }
        let finishedAll = done == processes.count && failedWorkers == 0
        if !finishedAll {
            Console.out("demo: workers did not finish before the deadline; stopping them")
            for process in processes { process.send(SIGKILL) }
        }
        for process in processes { _ = await process.wait() }
        if let service {
            service.process.send(SIGTERM)
            _ = await service.process.wait()
        }

        let stored = try await EtcdClient.withClient(connection.configuration) { client in
            try await client.range(RangeRequest(.key(counter)))
        }
        let counterValue = Int(stored.keyValues.first?.valueString ?? "0") ?? 0
        let resourceFields = ((try? String(contentsOfFile: resource, encoding: .utf8)) ?? "").split(separator: " ")
        let resourceAccepted = resourceFields.count > 1 ? String(resourceFields[1]).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
        let distinctTokens = Set(ackedTokens).count == ackedTokens.count
        let counterExact = counterValue >= acks && counterValue <= acks + ambiguous
        Console.out("counter in etcd: \(counterValue); acknowledged increments: \(acks)\(ambiguous > 0 ? " (+\(ambiguous) with unknown outcome)" : "")")
        Console.out("external resource: \(resourceAccepted) writes accepted; stale writes rejected by etcd and the resource: \(staleRejected)")
        Console.out("tokens of acknowledged writes all distinct: \(distinctTokens)")
        if httpWorker != nil {
            Console.out("HTTP worker: \(httpAcks) of the acknowledged increments, under the same lock and tokens as the Swift workers")
        }
        // The frozen holder must have tried (and failed) to write, or the demo showed nothing.
        let passed = finishedAll && counterExact && staleAccepted == 0 && distinctTokens && frozen != nil && staleRejected > 0
        Console.out(
            "verdict: \(passed ? "PASS" : "FAIL") — counter \(counterValue) = acknowledged increments \(acks); stale writes accepted: \(staleAccepted)")
        return passed ? .success : .failure
    }

    /// This program, to start workers and the service from.
    static var executable: String { Bundle.main.executablePath ?? CommandLine.arguments[0] }

    private func startWorker(
        _ index: Int, lockName: String, counter: EtcdKey, resource: String, sink: AsyncStream<Line>.Continuation
    ) throws -> ChildProcess {
        let command = [Self.executable, "demo-worker"] + connection.childArguments
            + workerArguments(lockName: lockName, counter: counter, resource: resource, increments: increments)
        return try startWorker(index, command: command, sink: sink)
    }

    /// The options every worker takes, whatever its language, besides how it reaches etcd.
    private func workerArguments(lockName: String, counter: EtcdKey, resource: String, increments: Int) -> [String] {
        [
            "--lock", lockName, "--counter", counter.description, "--resource", resource,
            "--increments", String(increments), "--ttl", ttlText, "--work-ms", "150",
        ]
    }

    /// Starts worker `index` running `command`, its report lines going to `sink`.
    private func startWorker(_ index: Int, command: [String], sink: AsyncStream<Line>.Continuation) throws -> ChildProcess {
        let child = try ChildProcess(command: command, environment: [:]) { text in
            sink.yield(Line(worker: index, text: text))
        }
        // A worker that exits without saying "done" (it failed) must not leave the demo waiting.
        // (The task ends with the child: every worker is waited for, or killed, before the demo ends.)
        Task {
            let status = await child.wait() ?? -1
            if status != 0 { sink.yield(Line(worker: index, text: "exited \(status)")) }
        }
        return child
    }

    private func killMember(_ index: Int, _ directory: String) async throws {
        let script = ChildProcess.scriptPath("etcd-cluster")
        let process = try ChildProcess(command: [script, "kill-member", String(index), "--dir", directory], environment: [:])
        _ = await process.wait()
    }
}
