import Etcd
import EtcdTestSupport
import Foundation
import Testing

/// A lock name no other test uses.
private func uniqueName() -> String { "rcp-\(Int.random(in: 0..<1_000_000_000))" }

/// A fresh directory for the commands' marker files.
private func markerDirectory() throws -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("etcdlock-recipes-\(UUID().uuidString.prefix(8))").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Shell text that waits up to 10 s for `path` to exist, and exits 3 if it does not: COMMAND's
/// side of waiting for another process's marker (a shell has no file events; the polling
/// interval is not a synchronisation delay, the file is the signal).
private func waitForFile(_ path: String) -> String {
    "i=0; while [ ! -e '\(path)' ]; do i=$((i+1)); if [ $i -gt 500 ]; then exit 3; fi; sleep 0.02; done"
}

/// The keys of lock `name` of `kind` (`lock`, `rwlock`, `semaphore`) in the default namespace,
/// oldest first.
private func keys(_ client: EtcdClient, _ kind: String, _ name: String) async throws -> [KeyValue] {
    try await client.range(
        RangeRequest(.prefix("/etcdlock/default/\(kind)/\(name)/"), sort: .init(.createRevision, .ascending))
    ).keyValues
}

/// The lines of the text file at `path` (empty when it does not exist).
private func lines(_ path: String) -> [String] {
    ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
}

@Suite("etcdlock lock --read, --write and --permits", .timeLimit(.minutes(2)))
struct CLIRecipeTests {
    private func environment() async throws -> [String: String] {
        ["ETCD_ENDPOINTS": try await TestEnvironment.endpoints().joined(separator: ",")]
    }

    @Test("two --read commands hold the lock at once: each waits for the other's marker")
    func readersShare() async throws {
        let name = uniqueName()
        let env = try await environment()
        let directory = try markerDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        func reader(_ mine: String, _ theirs: String) async throws -> CLIRunner.Outcome {
            try await CLIRunner.run(
                ["lock", name, "--read", "--", "sh", "-c", "echo $ETCDLOCK_LOCK_MODE > \(directory)/\(mine); \(waitForFile("\(directory)/\(theirs)"))"],
                environment: env)
        }
        async let first = reader("a", "b")
        async let second = reader("b", "a")
        let (a, b) = try await (first, second)
        #expect(a.status == 0, "\(a.errors)")
        #expect(b.status == 0, "\(b.errors)")
        #expect(lines("\(directory)/a") == ["read"] && lines("\(directory)/b") == ["read"])
        let left = try await TestEnvironment.withClient { client in try await keys(client, "rwlock", name) }
        #expect(left.isEmpty)
    }

    @Test("a --write command excludes readers: a queued reader's COMMAND starts only after the writer's exits")
    func writerExcludesReader() async throws {
        let name = uniqueName()
        let env = try await environment()
        let directory = try markerDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let log = "\(directory)/log"
        let writer = try CLIRunner.start(
            ["lock", name, "--write", "--", "sh", "-c",
             "echo writer-start-$ETCDLOCK_LOCK_MODE >> \(log); \(waitForFile("\(directory)/go")); echo writer-end >> \(log)"],
            environment: env)
        #expect(try await eventually(within: .seconds(10)) { lines(log).first == "writer-start-write" })
        let reader = try CLIRunner.start(
            ["lock", name, "--read", "--", "sh", "-c", "echo reader-start-$ETCDLOCK_LOCK_MODE >> \(log)"], environment: env)
        // The reader is queued behind the writer.
        let queued = try await TestEnvironment.withClient { client in
            try await eventually(within: .seconds(10)) { try await keys(client, "rwlock", name).count == 2 }
        }
        #expect(queued)
        let triedRead = try await CLIRunner.run(["lock", name, "--read", "--try", "--", "true"], environment: env)
        #expect(triedRead.status == 75)
        #expect(triedRead.errors.contains("is held by"))

        let inspected = try await CLIRunner.run(["inspect", name], environment: env)
        #expect(inspected.status == 0)
        let shown = inspected.output.split(separator: "\n").map(String.init)
        #expect(shown.first == "rwlock \(name): held for writing, 1 waiting", "\(inspected.output)")
        #expect(shown.count == 3)
        #expect(shown.dropFirst().first?.hasPrefix("  holder (write): ") == true)
        #expect(shown.last?.hasPrefix("  waiter 1 (read): ") == true)
        #expect(shown.last?.contains("/etcdlock/default/rwlock/\(name)/read/") == true)
        let json = try await CLIRunner.run(["inspect", name, "--kind", "rwlock", "--json"], environment: env)
        #expect(json.output.contains(#""rwlock":{"mode":"write","holders":[{"key":"/etcdlock/default/rwlock/\#(name)/write/"#), "\(json.output)")
        #expect(json.output.contains(#""mode":"read"}]}"#) && !json.output.contains(#""holder":"#))

        _ = FileManager.default.createFile(atPath: "\(directory)/go", contents: nil)
        #expect(try await writer.waitForExit(within: .seconds(10)) == 0)
        #expect(try await reader.waitForExit(within: .seconds(10)) == 0)
        #expect(lines(log) == ["writer-start-write", "writer-end", "reader-start-read"])
        let left = try await TestEnvironment.withClient { client in try await keys(client, "rwlock", name) }
        #expect(left.isEmpty)
    }

    @Test("--permits 2 runs two of three COMMANDs at once, never three")
    func permitsBoundConcurrency() async throws {
        let name = uniqueName()
        let env = try await environment()
        let directory = try markerDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Each COMMAND records how many COMMANDs are inside (itself included), then stays until `go`.
        let script = """
            touch \(directory)/in.$$; ls \(directory) | grep -c '^in\\.' >> \(directory)/counts; \
            echo $ETCDLOCK_LOCK_MODE >> \(directory)/modes; \(waitForFile("\(directory)/go")); rm \(directory)/in.$$
            """
        let commands = try (0..<3).map { _ in
            try CLIRunner.start(["lock", name, "--permits", "2", "--", "sh", "-c", script], environment: env)
        }
        let inside = { (try? FileManager.default.contentsOfDirectory(atPath: directory))?.filter { $0.hasPrefix("in.") }.count ?? 0 }
        #expect(try await eventually(within: .seconds(15)) { inside() == 2 })
        // The third is queued.
        let queued = try await TestEnvironment.withClient { client in
            try await eventually(within: .seconds(10)) { try await keys(client, "semaphore", name).count == 3 }
        }
        #expect(queued)
        let tried = try await CLIRunner.run(["lock", name, "--permits", "2", "--try", "--", "true"], environment: env)
        #expect(tried.status == 75)
        #expect(tried.errors.contains("no permit of \(name) is free"), "\(tried.errors)")
        #expect(!tried.errors.contains("permits=2;"), "the holder's owner is shown with the key's permit record")

        let inspected = try await CLIRunner.run(["inspect", name], environment: env)
        let shown = inspected.output.split(separator: "\n").map(String.init)
        #expect(shown.first == "semaphore \(name): 2 of 2 permits held, 1 waiting", "\(inspected.output)")
        #expect(shown.filter { $0.hasPrefix("  holder (permit): ") }.count == 2)
        #expect(shown.filter { $0.hasPrefix("  waiter 1 (permit): ") }.count == 1)
        #expect(!inspected.output.contains("permits=2;"))
        let json = try await CLIRunner.run(["inspect", name, "--json"], environment: env)
        #expect(json.output.contains(#""semaphore":{"permits":2,"holders":[{"#), "\(json.output)")
        #expect(json.output.contains(#""holder":null,"waiters":[]"#))

        _ = FileManager.default.createFile(atPath: "\(directory)/go", contents: nil)
        for command in commands { #expect(try await command.waitForExit(within: .seconds(15)) == 0) }
        let counts = lines("\(directory)/counts").compactMap { Int($0) }
        #expect(counts.count == 3)
        #expect(counts.allSatisfy { $0 <= 2 }, "more than 2 COMMANDs ran at once: \(counts)")
        #expect(counts.contains(2))
        #expect(lines("\(directory)/modes") == ["permit", "permit", "permit"])
        let emptied = try await TestEnvironment.withClient { client in
            try await eventually(within: .seconds(5)) { try await keys(client, "semaphore", name).isEmpty }
        }
        #expect(emptied)
    }

    @Test("--permits other than the holders' exits 78 with a clear message and leaves no key")
    func permitsMismatch() async throws {
        let name = uniqueName()
        let env = try await environment()
        let directory = try markerDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let holder = try CLIRunner.start(
            ["lock", name, "--permits", "2", "--", "sh", "-c", waitForFile("\(directory)/go")], environment: env)
        try await TestEnvironment.withClient { client in
            #expect(try await eventually(within: .seconds(10)) { try await keys(client, "semaphore", name).count == 1 })
            let held = try await keys(client, "semaphore", name)
            for extra in [[], ["--try"]] {
                let other = try await CLIRunner.run(["lock", name, "--permits", "3"] + extra + ["--", "true"], environment: env)
                #expect(other.status == 78, "\(other.errors)")
                #expect(other.errors.contains("held with 2 permits"), "\(other.errors)")
                #expect(other.errors.contains("same --permits"))
                #expect(try await keys(client, "semaphore", name) == held, "the refused attempt left a key")
            }
            _ = FileManager.default.createFile(atPath: "\(directory)/go", contents: nil)
            #expect(try await holder.waitForExit(within: .seconds(10)) == 0)
            #expect(try await eventually(within: .seconds(5)) { try await keys(client, "semaphore", name).isEmpty })
        }
        let help = try await CLIRunner.run(["lock", "--help"])
        #expect(help.output.contains("78 the semaphore is held with another --permits"))
        #expect(try await CLIRunner.run(["--help"]).output.contains("78 semaphore held with another"))
    }

    @Test("conflicting kinds, bad --permits and --lock-delay are usage errors (64); valid ones set ETCDLOCK_LOCK_MODE")
    func usageErrors() async throws {
        let name = uniqueName()
        let env = try await environment()
        let refused: [([String], String)] = [
            (["--read", "--write"], "--read, --write and --permits exclude each other"),
            (["--read", "--permits", "2"], "exclude each other"),
            (["--write", "--permits", "2"], "exclude each other"),
            (["--permits", "0"], "--permits must be a whole number from 1 to 10000, not 0"),
            (["--permits", "10001"], "not 10001"),
            (["--permits", "two"], "not two"),
            (["--permits", "2", "--lock-delay", "1"], "--lock-delay does not apply to a semaphore"),
            (["--lock-delay", "0"], "--lock-delay must be a positive number"),
            (["--write", "--lock-delay", "3601"], "--lock-delay must be at most 3600 seconds"),
        ]
        for (options, message) in refused {
            let result = try await CLIRunner.run(["lock", name] + options + ["--", "true"], environment: env)
            #expect(result.status == 64, "\(options)")
            #expect(result.errors.contains(message), "\(options): \(result.errors)")
        }
        for (options, mode) in [([String](), "exclusive"), (["--read", "--lock-delay", "0.5"], "read"), (["--write", "--lock-delay", "2"], "write"), (["--permits", "1"], "permit")] {
            let result = try await CLIRunner.run(
                ["lock", name] + options + ["--", "sh", "-c", "echo mode=$ETCDLOCK_LOCK_MODE"], environment: env)
            #expect(result.status == 0, "\(options): \(result.errors)")
            #expect(result.output == "mode=\(mode)\n", "\(options)")
        }
        let badKind = try await CLIRunner.run(["inspect", name, "--kind", "mutex"], environment: env)
        #expect(badKind.status == 64)
        #expect(badKind.errors.contains("--kind must be lock, rwlock or semaphore"))
        #expect(try await CLIRunner.run(["inspect", name], environment: env).output == "lock \(name): free\n")
        #expect(try await CLIRunner.run(["inspect", name, "--kind", "rwlock"], environment: env).output == "rwlock \(name): free\n")
        #expect(try await CLIRunner.run(["inspect", name, "--kind", "semaphore"], environment: env).output == "semaphore \(name): free\n")
        let help = try await CLIRunner.run(["lock", "--help"])
        for option in ["--read", "--write", "--permits N", "--lock-delay SECONDS", "ETCDLOCK_LOCK_MODE"] {
            #expect(help.output.contains(option), "lock --help lacks \(option)")
        }
    }
}
