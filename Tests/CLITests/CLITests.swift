import Etcd
import EtcdTestSupport
import Foundation
import Testing

/// A lock name no other test uses.
private func uniqueLock() -> String { "cli-\(Int.random(in: 0..<1_000_000_000))" }

/// The environment every CLI run gets: the shared cluster's endpoints.
private func environment() async throws -> [String: String] {
    ["ETCD_ENDPOINTS": try await TestEnvironment.endpoints().joined(separator: ",")]
}

/// The lock keys of `name` in the default namespace, holder first.
private func queue(_ client: EtcdClient, _ name: String) async throws -> [KeyValue] {
    try await client.range(
        RangeRequest(.prefix("/etcdlock/default/lock/\(name)/"), sort: .init(.createRevision, .ascending))
    ).keyValues
}

@Suite("the etcdlock binary", .timeLimit(.minutes(2)))
struct CLITests {
    @Test("--help lists the commands and the exit statuses; unknown commands are usage errors")
    func help() async throws {
        let help = try await CLIRunner.run(["--help"])
        #expect(help.status == 0)
        for command in ["lock", "elect", "observe", "inspect", "demo", "bench", "verify"] {
            #expect(help.output.contains("  \(command) "), "help lacks \(command)")
        }
        #expect(help.output.contains("75 lock not acquired"))
        let lockHelp = try await CLIRunner.run(["lock", "--help"])
        #expect(lockHelp.status == 0 && lockHelp.output.hasPrefix("Usage: etcdlock lock NAME"))
        let unknown = try await CLIRunner.run(["frobnicate"])
        #expect(unknown.status == 64)
        #expect(unknown.errors.hasPrefix("etcdlock: unknown command 'frobnicate'"))
    }

    @Test("lock runs the command with its fencing token and exits with the command's status")
    func lockRunsCommand() async throws {
        let name = uniqueLock()
        let result = try await CLIRunner.run(
            ["lock", name, "--", "sh", "-c", "echo token=$ETCDLOCK_FENCING_TOKEN key=$ETCDLOCK_LOCK_KEY; exit 7"],
            environment: try await environment())
        #expect(result.status == 7)
        let line = try #require(result.output.split(separator: "\n").first)
        let token = try #require(Int64(line.split(separator: " ")[0].dropFirst("token=".count)))
        #expect(token > 0)
        #expect(line.contains("key=/etcdlock/default/lock/\(name)/"))
        let left = try await TestEnvironment.withClient { client in try await queue(client, name) }
        #expect(left.isEmpty)
    }

    @Test("usage errors exit 64, an unreachable etcd 69, a held lock with --try or --timeout 75")
    func exitStatuses() async throws {
        let name = uniqueLock()
        let env = try await environment()
        #expect(try await CLIRunner.run(["lock", name], environment: env).status == 64)
        #expect(try await CLIRunner.run(["lock", "", "--", "true"], environment: env).status == 64)
        #expect(try await CLIRunner.run(["lock", name, "--ttl", "0", "--", "true"], environment: env).status == 64)
        let unreachable = try await CLIRunner.run(["lock", name, "--endpoints", "http://127.0.0.1:1", "--", "true"])
        #expect(unreachable.status == 69)
        #expect(unreachable.errors.contains("unavailable"))

        let holder = try CLIRunner.start(["lock", name, "--", "sleep", "30"], environment: env)
        try await TestEnvironment.withClient { client in
            #expect(try await eventually(within: .seconds(10)) { try await queue(client, name).count == 1 })
            let tried = try await CLIRunner.run(["lock", name, "--try", "--", "true"], environment: env)
            #expect(tried.status == 75)
            #expect(tried.errors.contains("is held by"))
            let timed = try await CLIRunner.run(["lock", name, "--timeout", "0.3", "--", "true"], environment: env)
            #expect(timed.status == 75)
            #expect(try await queue(client, name).count == 1, "a failed attempt left a key behind")
            let inspected = try await CLIRunner.run(["inspect", name, "--json"], environment: env)
            #expect(inspected.status == 0)
            #expect(inspected.output.contains(#""lock":"\#(name)""#) && inspected.output.contains(#""waiters":[]"#))
            holder.send(SIGTERM)
            #expect(try await holder.waitForExit(within: .seconds(10)) != nil)
            #expect(try await eventually(within: .seconds(5)) { try await queue(client, name).isEmpty })
        }
    }

    @Test("a holder killed with SIGKILL is succeeded within its TTL plus a small margin")
    func killedHolder() async throws {
        let name = uniqueLock()
        let env = try await environment()
        let pidFile = FileManager.default.temporaryDirectory.appendingPathComponent("\(name).pid").path
        let holder = try CLIRunner.start(
            ["lock", name, "--ttl", "2", "--", "sh", "-c", "echo $$ > \(pidFile); exec sleep 60"], environment: env)
        try await TestEnvironment.withClient { client in
            #expect(try await eventually(within: .seconds(10)) { try await queue(client, name).count == 1 })
            holder.send(SIGKILL)
            _ = try await holder.waitForExit(within: .seconds(5))
            // Belt and braces (the guard kills the group when etcdlock dies), and only if that PID
            // is still the `sleep`: a PID of a process gone may already be another's.
            if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let child = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)),
                let command = try? String(contentsOfFile: "/proc/\(child)/cmdline", encoding: .utf8), command.hasPrefix("sleep\u{0}60")
            {
                kill(child, SIGKILL)
            }
            let (next, elapsed) = try await measure {
                try await CLIRunner.run(["lock", name, "--timeout", "10", "--", "true"], environment: env)
            }
            #expect(next.status == 0)
            // The TTL plus room for a loaded machine (the suite runs beside every other one).
            #expect(elapsed < .seconds(5), "took over after \(elapsed) with a 2 s TTL")
        }
    }

    @Test("when the lock is lost, the command is stopped and etcdlock exits 1")
    func lostLockStopsCommand() async throws {
        let name = uniqueLock()
        let env = try await environment()
        let holder = try CLIRunner.start(["lock", name, "--kill-after", "1", "--", "sleep", "60"], environment: env)
        try await TestEnvironment.withClient { client in
            #expect(try await eventually(within: .seconds(10)) { try await queue(client, name).count == 1 })
            let lease = try #require(try await queue(client, name).first?.lease)
            _ = try await client.revokeLease(lease)
            let status = try await holder.waitForExit(within: .seconds(5))
            #expect(status == 1)
            #expect(holder.output.contains("lost \(name)"))
        }
    }

    @Test("elect leads and resigns on SIGTERM; observe prints each change in order")
    func electAndObserve() async throws {
        let name = uniqueLock()
        let env = try await environment()
        let observer = try CLIRunner.start(["observe", name, "--count", "3"], environment: env)
        #expect(try await eventually(within: .seconds(10)) { observer.output.contains("no leader") })
        let leader = try CLIRunner.start(["elect", name, "node-a"], environment: env)
        #expect(try await eventually(within: .seconds(10)) { leader.output.contains("leader \(name) node-a token") })
        leader.send(SIGTERM)
        #expect(try await leader.waitForExit(within: .seconds(10)) == 0)
        #expect(try await observer.waitForExit(within: .seconds(10)) == 0)
        let lines = observer.output.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines.first == "no leader")
        #expect(lines.dropFirst().first?.hasPrefix("leader node-a token ") == true)
        #expect(lines.last == "no leader")
    }
}
