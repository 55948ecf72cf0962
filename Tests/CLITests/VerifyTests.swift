import EtcdTestSupport
import Foundation
import Testing

/// The verifier's own behaviour; `scripts/test` also runs it under member faults (`scripts/chaos`).
@Suite("etcdlock verify", .timeLimit(.minutes(2)))
struct VerifyTests {
    private func environment() async throws -> [String: String] {
        ["ETCD_ENDPOINTS": try await TestEnvironment.endpoints().joined(separator: ",")]
    }

    /// The number on verify's "faults injected: N (…)" line (0 without one).
    private func faultsInjected(_ output: String) -> Int {
        let faults = output.split(separator: "\n").first { $0.hasPrefix("faults injected: ") }
        return faults.flatMap { Int($0.dropFirst("faults injected: ".count).prefix { $0.isNumber }) } ?? 0
    }

    @Test("the same seed prints the same fault schedule; another seed another; bad options are usage errors")
    func scheduleIsReproducible() async throws {
        let arguments = ["verify", "--print-schedule", "--duration", "120", "--clients", "3"]
        let first = try await CLIRunner.run(arguments + ["--seed", "17"])
        let again = try await CLIRunner.run(arguments + ["--seed", "17"])
        let other = try await CLIRunner.run(arguments + ["--seed", "18"])
        #expect(first.status == 0)
        #expect(first.output.contains("pause-client client"))
        #expect(first.output == again.output)
        #expect(first.output != other.output)
        #expect(try await CLIRunner.run(["verify", "--clients", "1"]).status == 64)
        #expect(try await CLIRunner.run(["verify", "--seed", "-3"]).status == 64)
        #expect(try await CLIRunner.run(["verify", "--cluster-dir", "/nonexistent"]).status == 64)
        #expect(try await CLIRunner.run(["verify", "--history", "/nonexistent/dir/history", "--print-schedule"]).status == 64)
    }

    @Test("client faults only: every check passes, and faults were injected")
    func passesUnderClientFaults() async throws {
        let result = try await CLIRunner.run(
            ["verify", "--duration", "8", "--clients", "3", "--seed", "5"], environment: try await environment())
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
        #expect(result.output.hasSuffix("verdict: 9 passed, 0 failed\n"))
        #expect(faultsInjected(result.output) >= 2)
    }

    @Test("--recipe semaphore: 2 permits shared by 3 clients under client faults; every check passes")
    func semaphorePasses() async throws {
        let result = try await CLIRunner.run(
            ["verify", "--recipe", "semaphore", "--permits", "2", "--duration", "4", "--clients", "3", "--seed", "4"],
            environment: try await environment())
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
        #expect(result.output.contains("verify: semaphore of 2 permits, 3 client processes"))
        #expect(result.output.contains("PASS  at most 2 accepted permit sections overlap in real time"))
        #expect(faultsInjected(result.output) >= 1)
        #expect(result.output.hasSuffix("verdict: 8 passed, 0 failed\n"))
    }

    @Test("--recipe rwlock: readers and writers under client faults; every check passes")
    func readWriteLockPasses() async throws {
        let result = try await CLIRunner.run(
            ["verify", "--recipe", "rwlock", "--duration", "4", "--clients", "3", "--seed", "4"],
            environment: try await environment())
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
        #expect(result.output.contains("PASS  each fenced read was answered while its reader held a read hold"))
        #expect(result.output.contains("; fenced reads: "))
        #expect(faultsInjected(result.output) >= 1)
        #expect(result.output.hasSuffix("verdict: 11 passed, 0 failed\n"))
    }

    @Test("recipe options: an unknown recipe, --permits without a semaphore, or 0 permits are usage errors")
    func recipeOptions() async throws {
        #expect(try await CLIRunner.run(["verify", "--recipe", "barrier", "--print-schedule"]).status == 64)
        #expect(try await CLIRunner.run(["verify", "--recipe", "rwlock", "--permits", "2", "--print-schedule"]).status == 64)
        #expect(try await CLIRunner.run(["verify", "--recipe", "semaphore", "--permits", "0", "--print-schedule"]).status == 64)
        #expect(try await CLIRunner.run(["verify", "--recipe", "semaphore", "--permits", "3", "--print-schedule"]).status == 0)
    }

    @Test("--via-service: clients take 2 mutexes through 2 etcdlock serve replicas that get killed and paused; every check passes")
    func passesThroughTheService() async throws {
        let result = try await CLIRunner.run(
            ["verify", "--via-service", "2", "--locks", "2", "--lockers", "2", "--duration", "10", "--clients", "3", "--seed", "3"],
            environment: try await environment())
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
        #expect(result.output.contains("clients through 2 etcdlock serve replicas"))
        let injected = result.output.split(separator: "\n").first { $0.hasPrefix("faults injected: ") } ?? ""
        #expect(injected.contains("kill-replica") || injected.contains("pause-replica"), "\(injected)")
        // "operations: N lock attempts, M acquired; …"
        let operations = result.output.split(separator: "\n").first { $0.hasPrefix("operations: ") } ?? ""
        let acquired = operations.split(separator: ";").first?.split(separator: " ").dropLast().last.flatMap { Int($0) } ?? 0
        #expect(acquired > 0, "\(result.output)")
        #expect(result.output.hasSuffix("verdict: 9 passed, 0 failed\n"))
        #expect(try await CLIRunner.run(["verify", "--via-service", "1", "--print-schedule"]).status == 64)
        for ttl in ["0.5", "5000"] {
            #expect(try await CLIRunner.run(["verify", "--via-service", "2", "--ttl", ttl, "--print-schedule"]).status == 64)
        }
        #expect(try await CLIRunner.run(["verify", "--via-service", "2", "--recipe", "rwlock", "--print-schedule"]).status == 64)
    }

    @Test("--via-service with fencing switched off: the checker reports the stale writes and verify exits 1")
    func detectsUnfencedWritesThroughTheService() async throws {
        // A stale write needs a client paused while it holds, for longer than its TTL; which client
        // holds when a pause lands depends on timing, so a run whose pauses all met waiting clients
        // has nothing to detect. Up to three seeds: one must show the violation, none may hide one.
        var results: [CLIRunner.Outcome] = []
        for seed in ["9", "10", "11"] {
            let result = try await CLIRunner.run(
                ["verify", "--via-service", "2", "--unfenced", "--duration", "20", "--clients", "3", "--seed", seed],
                environment: try await environment())
            results.append(result)
            #expect([0, 1].contains(result.status), "\(result.output)\n\(result.errors)")
            if result.status == 1 { break }
        }
        let detected = try #require(results.last)
        #expect(detected.status == 1, "no run of three showed the unfenced writes: \(results.map(\.output).joined(separator: "\n---\n"))")
        #expect(detected.output.contains("FAIL  each write applied while its writer held the lock"), "\(detected.output)")
    }

    @Test("SIGTERM mid-run heals the fault in hand, stops clients and replicas, checks what ran and exits 143")
    func signalEndsTheRunCleanly() async throws {
        try await EtcdCluster.withCluster(members: 3) { cluster in
            let verify = try CLIRunner.start(
                ["verify", "--cluster-dir", cluster.directory, "--via-service", "2", "--duration", "120", "--verbose", "--seed", "8"],
                environment: [:])
            // A member fault in hand (a frozen or killed member), then the signal.
            let faulted = try await eventually(within: .seconds(60)) {
                verify.output.contains("fault at") && verify.output.split(separator: "\n").last(where: { $0.hasPrefix("fault at") })?
                    .contains("etcd member") == true
            }
            #expect(faulted, "\(verify.output)")
            verify.send(SIGTERM)
            let status = try await verify.waitForExit(within: .seconds(90))
            #expect(status == 143, "status \(String(describing: status)): \(verify.output)")
            #expect(verify.output.contains("SIGTERM after"), "\(verify.output)")
            #expect(verify.output.contains("verdict: 9 passed, 0 failed"), "\(verify.output)")
            // Every member answers: none was left frozen or dead (etcdctl reports health on stderr).
            let health = try await CLIRunner.runShell(
                "etcdctl --endpoints=\(cluster.endpoints.joined(separator: ",")) endpoint health --command-timeout=5s 2>&1")
            #expect(health.output.components(separatedBy: "is healthy").count - 1 == 3, "\(health.output)")
            // No client or replica of the run outlives it. (`[v]`: the pattern must not match the
            // shell that runs pgrep.)
            // The run's ID, from `lock "verify-<id>-0"`: every client's command line holds it.
            let lock = verify.output.split(separator: "\"").dropFirst().first ?? ""
            let run = try #require(lock.split(separator: "-").dropFirst().first)
            let left = try await CLIRunner.runShell("pgrep -f -- '[v]erify-client.*\(run)' || true")
            #expect(left.output.isEmpty, "clients left: \(left.output)")
            let replicas = try await CLIRunner.runShell(
                "pgrep -f -- '[s]erve --listen 127.0.0.1:[0-9]* --endpoints \(cluster.endpoints.joined(separator: ","))' || true")
            #expect(replicas.output.isEmpty, "replicas left: \(replicas.output)")
        }
    }

    @Test("with fencing switched off, the checker reports the stale writes and verify exits 1")
    func detectsUnfencedWrites() async throws {
        let result = try await CLIRunner.run(
            ["verify", "--unfenced", "--duration", "20", "--clients", "3", "--seed", "9"],
            environment: try await environment())
        #expect(result.status == 1, "\(result.output)\n\(result.errors)")
        #expect(result.output.contains("FAIL  each write applied while its writer held the lock"))
        #expect(result.output.contains("failed\n"))
        #expect(!result.output.contains("verdict: 9 passed"))
    }
}
