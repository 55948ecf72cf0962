import Etcd
import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A lock or election name no other test uses.
private func uniqueName(_ kind: String = "sv") -> String { "\(kind)-\(Int.random(in: 0..<1_000_000_000))" }

/// A fresh file path for a child to write into.
private func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString.prefix(8))").path
}

/// The queue keys of lock `name` in the default namespace, holder first.
private func lockQueue(_ client: EtcdClient, _ name: String, kind: String = "lock") async throws -> [KeyValue] {
    try await client.range(
        RangeRequest(.prefix("/etcdlock/default/\(kind)/\(name)/"), sort: .init(.createRevision, .ascending))
    ).keyValues
}

/// Whether process `pid` has ended (gone, or a zombie nobody reaped yet).
private func hasEnded(_ pid: Int32) -> Bool {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return kill(pid, 0) != 0 }
    // The state follows the parenthesised command name.
    guard let close = stat.lastIndex(of: ")") else { return false }
    return stat[stat.index(close, offsetBy: 2)] == "Z"
}

/// The process IDs a child wrote into `path` (`echo $$ $! > path`), once it has written them.
private func pids(in path: String) async throws -> [Int32] {
    var found: [Int32] = []
    _ = try await eventually(within: .seconds(10)) {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        guard text.hasSuffix("\n") else { return false }
        found = text.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { Int32($0) }
        return !found.isEmpty
    }
    return found
}

/// A shell command that records its own PID and a background child's, then waits for the child.
private func parentAndChild(writingTo path: String) -> [String] {
    ["sh", "-c", "sleep 60 & echo $$ $! > \(path); wait"]
}

@Suite("etcdlock lock and elect as process supervisors", .timeLimit(.minutes(3)))
struct CLISupervisionTests {
    private func environment() async throws -> [String: String] {
        ["ETCD_ENDPOINTS": try await TestEnvironment.endpoints().joined(separator: ",")]
    }

    @Test("COMMAND starts with no blocked and no ignored signals, so a shell's wait returns")
    func commandStartsWithCleanSignals() async throws {
        let result = try await CLIRunner.run(
            ["lock", uniqueName(), "--", "sh", "-c", "grep -E '^Sig(Blk|Ign):' /proc/self/status; sleep 0 & wait; echo waited"],
            environment: try await environment())
        #expect(result.status == 0)
        #expect(result.output.contains("SigBlk:\t0000000000000000"), "\(result.output)")
        #expect(result.output.contains("SigIgn:\t0000000000000000"), "\(result.output)")
        #expect(result.output.contains("waited"))
    }

    @Test("when the lock is lost, COMMAND and its children are stopped before etcdlock exits 1")
    func lossStopsTheWholeGroup() async throws {
        let name = uniqueName()
        let pidFile = temporaryPath(name)
        let holder = try CLIRunner.start(
            ["lock", name, "--kill-after", "1", "--"] + parentAndChild(writingTo: pidFile), environment: try await environment())
        let processes = try await pids(in: pidFile)
        try #require(processes.count == 2)
        try await TestEnvironment.withClient { client in
            _ = try await client.delete(.prefix("/etcdlock/default/lock/\(name)/"))
        }
        #expect(try await holder.waitForExit(within: .seconds(10)) == 1)
        for pid in processes { #expect(hasEnded(pid), "process \(pid) outlived the lock") }
    }

    @Test("SIGHUP stops COMMAND's group, releases the lock at once and exits 129")
    func hangUpStopsAndReleases() async throws {
        let name = uniqueName()
        let pidFile = temporaryPath(name)
        let holder = try CLIRunner.start(
            ["lock", name, "--ttl", "30", "--"] + parentAndChild(writingTo: pidFile), environment: try await environment())
        let processes = try await pids(in: pidFile)
        holder.send(SIGHUP)
        #expect(try await holder.waitForExit(within: .seconds(10)) == 129)
        for pid in processes { #expect(hasEnded(pid), "process \(pid) outlived etcdlock") }
        // Released, not left to a 30 s TTL.
        let left = try await TestEnvironment.withClient { client in try await lockQueue(client, name) }
        #expect(left.isEmpty)
    }

    @Test("SIGKILL of etcdlock kills COMMAND and its children at once")
    func killedSupervisorTakesTheGroupAlong() async throws {
        let name = uniqueName()
        let pidFile = temporaryPath(name)
        let holder = try CLIRunner.start(
            ["lock", name, "--ttl", "3", "--"] + parentAndChild(writingTo: pidFile), environment: try await environment())
        let processes = try await pids(in: pidFile)
        holder.send(SIGKILL)
        #expect(try await holder.waitForExit(within: .seconds(5)) == 128 + SIGKILL)
        let allEnded = try await eventually(within: .seconds(2)) { processes.allSatisfy(hasEnded) }
        #expect(allEnded, "COMMAND's processes outlived a SIGKILLed etcdlock")
    }

    @Test("a stopped (SIGSTOP) etcdlock cannot vouch for its lock: COMMAND's group is killed by its session's deadline")
    func stoppedSupervisorLosesCommand() async throws {
        let name = uniqueName()
        let pidFile = temporaryPath(name)
        let holder = try CLIRunner.start(
            ["lock", name, "--ttl", "3", "--"] + parentAndChild(writingTo: pidFile), environment: try await environment())
        let processes = try await pids(in: pidFile)
        holder.send(SIGSTOP)
        // Within the TTL (3 s) plus scheduling, not whenever etcdlock happens to wake up.
        let ended = try await eventually(within: .seconds(6)) { processes.allSatisfy(hasEnded) }
        holder.send(SIGCONT)
        #expect(ended, "COMMAND ran on while its supervisor was stopped past the lease")
        #expect(try await holder.waitForExit(within: .seconds(10)) == 1)
    }

    @Test("a stopped COMMAND group is continued when stopped, so it ends at the signal, not after --kill-after")
    func stoppedCommandStopsPromptly() async throws {
        let name = uniqueName()
        let pidFile = temporaryPath(name)
        let holder = try CLIRunner.start(
            ["lock", name, "--kill-after", "30", "--", "sh", "-c", "echo $$ > \(pidFile); kill -STOP $$"],
            environment: try await environment())
        let processes = try await pids(in: pidFile)
        _ = processes
        holder.send(SIGTERM)
        #expect(try await holder.waitForExit(within: .seconds(10)) == 128 + SIGTERM)
    }

    @Test("a waiter stopped by SIGTERM, SIGINT or SIGHUP withdraws its key and revokes its lease before it exits")
    func stoppedWaiterWithdraws() async throws {
        let name = uniqueName()
        let env = try await environment()
        let holder = try CLIRunner.start(["lock", name, "--", "sleep", "60"], environment: env)
        try await TestEnvironment.withClient { client in
            #expect(try await eventually(within: .seconds(10)) { try await lockQueue(client, name).count == 1 })
            for signal in [SIGTERM, SIGINT, SIGHUP] {
                let waiter = try CLIRunner.start(["lock", name, "--ttl", "30", "--", "true"], environment: env)
                #expect(try await eventually(within: .seconds(10)) { try await lockQueue(client, name).count == 2 })
                let lease = try #require(try await lockQueue(client, name).last?.lease)
                waiter.send(signal)
                #expect(try await waiter.waitForExit(within: .seconds(10)) == 128 + signal)
                #expect(try await lockQueue(client, name).count == 1, "the waiter's key outlived it")
                #expect(try await client.timeToLive(lease).ttlSeconds == -1, "the waiter's lease outlived it")
            }
            holder.send(SIGTERM)
            #expect(try await holder.waitForExit(within: .seconds(10)) == 128 + SIGTERM)
        }
    }

    @Test("elect keeps leading through keepalives until a signal, then resigns and exits 0")
    func electLeadsUntilSignalled() async throws {
        let name = uniqueName("el")
        let leader = try CLIRunner.start(["elect", name, "node-a", "--ttl", "5"], environment: try await environment())
        #expect(try await eventually(within: .seconds(10)) { leader.output.contains("leader \(name) node-a token") })
        try await TestEnvironment.withClient { client in
            let lease = try #require(try await lockQueue(client, name, kind: "election").first?.lease)
            // A keepalive shows as the lease's remaining TTL going up again.
            var lowest = Int64.max
            let renewed = try await eventually(within: .seconds(10), every: .milliseconds(100)) {
                let ttl = try await client.timeToLive(lease).ttlSeconds
                defer { lowest = min(lowest, ttl) }
                return ttl > 0 && ttl > lowest
            }
            #expect(renewed, "the leader's lease was not kept alive")
            #expect(try await lockQueue(client, name, kind: "election").first?.lease == lease)
        }
        #expect(!leader.output.contains("resigned"))
        leader.send(SIGTERM)
        #expect(try await leader.waitForExit(within: .seconds(10)) == 0)
        #expect(leader.output.contains("resigned \(name)"))
    }

    @Test("huge, infinite or negative durations are usage errors, never a crash")
    func outOfRangeDurations() async throws {
        let env = try await environment()
        let cases: [[String]] = [
            ["lock", "x", "--ttl", "1e16", "--", "true"], ["lock", "x", "--timeout", "1e16", "--", "true"],
            ["lock", "x", "--kill-after", "1e300", "--", "true"], ["lock", "x", "--ttl", "inf", "--", "true"],
            ["lock", "x", "--timeout", "-1", "--", "true"], ["lock", "x", "--ttl", "nan", "--", "true"],
            ["elect", "x", "v", "--ttl", "1e16"],
        ]
        for arguments in cases {
            let result = try await CLIRunner.run(arguments, environment: env)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.errors)")
        }
    }

    @Test("a lock name that is not valid UTF-8 is a usage error, not another name's lock")
    func invalidUTF8Name() async throws {
        let result = try await CLIRunner.runShell(
            #"exec "$0" lock "$(printf 'x\377')" --try -- true"#, environment: try await environment())
        #expect(result.status == 64)
        #expect(result.errors.contains("not valid UTF-8"))
    }

    @Test("--try with --timeout, an empty --endpoints and invalid endpoint URLs are usage errors")
    func optionMistakes() async throws {
        let env = try await environment()
        let cases: [[String]] = [
            ["lock", "x", "--try", "--timeout", "5", "--", "true"], ["lock", "x", "--endpoints", "", "--", "true"],
            ["lock", "x", "--endpoints", "unix:///tmp/etcd.sock", "--", "true"],
            ["lock", "x", "--endpoints", "http://127.0.0.1:99999", "--", "true"],
        ]
        for arguments in cases {
            let result = try await CLIRunner.run(arguments, environment: env)
            #expect(result.status == 64, "\(arguments): \(result.status) \(result.errors)")
        }
    }

    @Test("a missing COMMAND exits 127 without taking the lock")
    func missingCommand() async throws {
        let name = uniqueName()
        let result = try await CLIRunner.run(["lock", name, "--", "no-such-command-\(name)"], environment: try await environment())
        #expect(result.status == 127)
        #expect(result.errors.contains("command not found"))
    }

    @Test("names and values are printed with control and bidi characters escaped")
    func escapedOutput() async throws {
        let name = uniqueName("el") + "\u{202E}txt"
        let value = "v\u{1B}]0;owned\u{07}\nforged line"
        let leader = try CLIRunner.start(["elect", name, value], environment: try await environment())
        #expect(try await eventually(within: .seconds(10)) { leader.output.contains("token") })
        leader.send(SIGTERM)
        #expect(try await leader.waitForExit(within: .seconds(10)) == 0)
        let output = leader.output
        #expect(!output.contains("\u{202E}") && !output.contains("\u{1B}") && !output.contains("\u{07}"))
        #expect(output.contains("\\u{202E}txt") && output.contains("v\\u{1B}]0;owned\\u{7}\\nforged line"))
        #expect(!output.split(separator: "\n").contains { $0.hasPrefix("forged") }, "a value forged a line")
    }

    @Test("a closed standard output or error never crashes etcdlock: statuses stay what they mean")
    func closedOutputs() async throws {
        let env = try await environment()
        #expect(try await CLIRunner.runShell(#"exec "$0" lock 2>&-"#, environment: env).status == 64)
        #expect(try await CLIRunner.runShell(#"exec "$0" inspect "$1" >&-"#.replacingOccurrences(of: "$1", with: uniqueName()), environment: env).status == 0)
        let name = uniqueName()
        #expect(try await CLIRunner.runShell(#"exec "$0" lock \#(name) -- sh -c 'exit 3' >&- 2>&-"#, environment: env).status == 3)
    }

    @Test("a queued lock and observe ride out a restart of a one-member etcd")
    func rideOutRestart() async throws {
        try await EtcdCluster.withCluster(members: 1) { cluster in
            let env = ["ETCD_ENDPOINTS": cluster.endpoints.joined(separator: ",")]
            let name = uniqueName()
            let election = uniqueName("el")
            let releaseFile = temporaryPath(name)
            let observer = try CLIRunner.start(["observe", election], environment: env)
            let holder = try CLIRunner.start(
                ["lock", name, "--", "sh", "-c", "while [ ! -e \(releaseFile) ]; do sleep 0.05; done"], environment: env)
            let waiter = try await EtcdClient.withClient(cluster.configuration()) { client in
                // The holder first, then the waiter behind it.
                _ = try await eventually(within: .seconds(10)) { try await lockQueue(client, name).count == 1 }
                return try CLIRunner.start(["lock", name, "--", "echo", "acquired"], environment: env)
            }
            let queued = try await EtcdClient.withClient(cluster.configuration()) { client in
                try await eventually(within: .seconds(10)) { try await lockQueue(client, name).count == 2 }
            }
            #expect(queued, "holder: \(holder.output); waiter: \(waiter.output)")
            #expect(try await eventually(within: .seconds(10)) { observer.output.contains("no leader") })
            try await cluster.kill(member: 1)
            // The fault itself: etcd stays down for 3 s, longer than a watch's own reconnect attempts.
            try await Task.sleep(for: .seconds(3))
            try await cluster.restart(member: 1)
            FileManager.default.createFile(atPath: releaseFile, contents: nil)
            let holderStatus = try await holder.waitForExit(within: .seconds(20))
            #expect(holderStatus == 0, "status \(String(describing: holderStatus)): \(holder.output)")
            #expect(try await waiter.waitForExit(within: .seconds(20)) == 0, "\(waiter.output)")
            #expect(waiter.output.contains("acquired"))
            #expect(observer.exitStatus == nil, "observe gave up: \(observer.output)")
            let leader = try CLIRunner.start(["elect", election, "after-restart"], environment: env)
            #expect(try await eventually(within: .seconds(20)) { observer.output.contains("leader after-restart") })
            // The observer can see the candidate's key before the candidate has finished its campaign:
            // it is signalled once it says it leads.
            #expect(try await eventually(within: .seconds(20)) { leader.output.contains("token") }, "\(leader.output)")
            leader.send(SIGTERM)
            observer.send(SIGTERM)
            let leaderStatus = try await leader.waitForExit(within: .seconds(10))
            #expect(leaderStatus == 0, "elect: status \(String(describing: leaderStatus)): \(leader.output)")
            let observerStatus = try await observer.waitForExit(within: .seconds(10))
            #expect(observerStatus == 0, "observe: status \(String(describing: observerStatus)): \(observer.output)")
        }
    }

    @Test("after COMMAND exits, its group's ID stays etcdlock's (the guard an unreaped zombie) until etcdlock is done with the group")
    func groupIDIsNotFreedWhileInUse() async throws {
        // Once reaped, the guard's PID (the group's ID) may become an unrelated process group's,
        // e.g. an etcd member's started with setsid; signalling "the group" then hits it. While
        // etcdlock may still signal the group, the guard must stay a zombie under it.
        try await EtcdCluster.withCluster(members: 1) { cluster in
            let env = ["ETCD_ENDPOINTS": cluster.endpoints.joined(separator: ",")]
            let name = uniqueName()
            let guardFile = temporaryPath(name)
            let releaseFile = temporaryPath(name)
            let holder = try CLIRunner.start(
                [
                    "lock", name, "--ttl", "20", "--", "sh", "-c",
                    "echo $PPID > \(guardFile); while [ ! -e \(releaseFile) ]; do sleep 0.05; done",
                ], environment: env)
            let guardPID = try #require(try await pids(in: guardFile).first)
            // The release after COMMAND exits cannot complete while etcd is frozen: etcdlock stays.
            try await cluster.freeze(member: 1)
            FileManager.default.createFile(atPath: releaseFile, contents: nil)
            let exited = try await eventually(within: .seconds(10)) { hasEnded(guardPID) }
            #expect(exited, "COMMAND did not exit")
            let stat = (try? String(contentsOfFile: "/proc/\(guardPID)/stat", encoding: .utf8)) ?? ""
            let fields = stat.split(separator: ")").last?.split(separator: " ") ?? []
            #expect(fields.first == "Z" && fields.dropFirst().first.flatMap { Int32($0) } == holder.pid,
                "the guard \(guardPID) was reaped while etcdlock \(holder.pid) still ran: /proc says \(stat)")
            try await cluster.resume(member: 1)
            #expect(try await holder.waitForExit(within: .seconds(30)) == 0, "\(holder.output)")
        }
    }

    @Test("lock --timeout 1 and elect --timeout 1 on a frozen etcd give up within the timeout, not the 5 s request timeout")
    func boundedWaitOnFrozenEtcd() async throws {
        try await EtcdCluster.withCluster(members: 1) { cluster in
            let env = ["ETCD_ENDPOINTS": cluster.endpoints.joined(separator: ",")]
            try await cluster.freeze(member: 1)
            let (lock, lockTook) = try await measure {
                try await CLIRunner.run(["lock", uniqueName(), "--timeout", "1", "--", "true"], environment: env)
            }
            let (elect, electTook) = try await measure {
                try await CLIRunner.run(["elect", uniqueName("el"), "v", "--timeout", "1"], environment: env)
            }
            try await cluster.resume(member: 1)
            #expect(lock.status == 69, "\(lock.errors)")
            #expect(elect.status == 69, "\(elect.errors)")
            // The 1 s bound plus the process's start, well short of the 5 s a request may take.
            #expect(lockTook < .milliseconds(4800), "lock took \(lockTook)")
            #expect(electTook < .milliseconds(4800), "elect took \(electTook)")
        }
    }

    @Test("after losing the lock with etcd frozen, etcdlock exits within its TTL plus --kill-after")
    func lossWithFrozenEtcdIsBounded() async throws {
        try await EtcdCluster.withCluster(members: 1) { cluster in
            let env = ["ETCD_ENDPOINTS": cluster.endpoints.joined(separator: ",")]
            let name = uniqueName()
            let holder = try CLIRunner.start(["lock", name, "--ttl", "2", "--kill-after", "1", "--", "sleep", "60"], environment: env)
            let queued = try await EtcdClient.withClient(cluster.configuration()) { client in
                try await eventually(within: .seconds(10)) { try await lockQueue(client, name).count == 1 }
            }
            #expect(queued)
            try await cluster.freeze(member: 1)
            let (status, elapsed) = try await measure { try await holder.waitForExit(within: .seconds(20)) }
            try await cluster.resume(member: 1)
            #expect(status == 1, "\(holder.output)")
            // TTL 2 s, then SIGTERM, SIGKILL after 1 s (sleep dies at SIGTERM); no wait on the frozen etcd.
            #expect(elapsed < .seconds(6), "took \(elapsed) to exit")
        }
    }
}
