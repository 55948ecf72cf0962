import Etcd
import EtcdLock
import EtcdTestSupport
import Foundation
import Testing

/// `etcdctl` against the test cluster.
private func etcdctl(_ arguments: [String]) async throws -> [String] {
    ["--endpoints=\(try await TestEnvironment.endpoints().joined(separator: ","))"] + arguments
}

private let etcdctlPath = "/usr/bin/etcdctl"

@Suite("interoperating with etcd's own recipes (etcdctl lock and elect)", .timeLimit(.minutes(2)))
struct EtcdLayoutTests {
    @Test("etcdctl lock P and our mutex on P exclude each other, both ways; our token is greater than the Go holder's")
    func mutexAndEtcdctlLockExclude() async throws {
        let prefix = "/interop-\(Int.random(in: 0..<1_000_000_000))/job"
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("interop-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let mutex = try EtcdMutex(etcdPrefix: prefix, session: session)
                // Ours first: etcdctl waits, and its command runs only after our release.
                let held = try await mutex.lock()
                #expect(held.key.description == "\(prefix)/\(String(UInt64(bitPattern: session.lease.rawValue), radix: 16))")
                let waiting = try CLIRunner.startProgram(
                    etcdctlPath, try await etcdctl(["lock", prefix, "--", "sh", "-c", "echo go >> \(directory)/log"]))
                #expect(try await eventually(within: .seconds(10)) {
                    try await client.range(RangeRequest(.prefix(EtcdKey(prefix + "/")), countOnly: true)).count == 2
                })
                #expect(!FileManager.default.fileExists(atPath: "\(directory)/log"), "etcdctl ran while we held the lock")
                try await mutex.unlock(held)
                #expect(try await waiting.waitForExit(within: .seconds(10)) == 0)
                #expect(try String(contentsOfFile: "\(directory)/log", encoding: .utf8) == "go\n")

                // etcdctl first: our lock waits until its command ends.
                let holding = try CLIRunner.startProgram(
                    etcdctlPath,
                    try await etcdctl([
                        "lock", prefix, "--", "sh", "-c",
                        // The held command: marks that it holds, then ends when the test says so (bounded).
                        "touch \(directory)/held; i=0; while [ ! -e \(directory)/release ] && [ $i -lt 600 ]; do sleep 0.05; i=$((i+1)); done",
                    ]))
                #expect(try await eventually(within: .seconds(10)) { FileManager.default.fileExists(atPath: "\(directory)/held") })
                let goHolder = try await mutex.holder()
                await #expect { try await mutex.lock(timeout: .milliseconds(500)) } throws: { ($0 as? LockError)?.code == .timeout }
                FileManager.default.createFile(atPath: "\(directory)/release", contents: nil)
                let ours = try await mutex.lock(timeout: .seconds(20))
                #expect(try await holding.waitForExit(within: .seconds(10)) == 0)
                #expect(goHolder.map { ours.token > $0.token } ?? false)
                try await mutex.unlock(ours)
            }
        }
    }

    @Test("our campaign waits for etcdctl elect's leader; etcdctl elect -l sees our leader's value")
    func electionAndEtcdctlElect() async throws {
        let prefix = "/interop-\(Int.random(in: 0..<1_000_000_000))/leader"
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let election = try EtcdElection(etcdPrefix: prefix, session: session)
                let goLeader = try CLIRunner.startProgram(etcdctlPath, try await etcdctl(["elect", prefix, "go-value"]))
                #expect(try await eventually(within: .seconds(10)) { try await election.leader()?.valueString == "go-value" })
                await #expect { try await election.campaign(value: "swift-value".utf8, timeout: .milliseconds(500)) } throws: {
                    ($0 as? LockError)?.code == .timeout
                }
                // etcdctl resigns (its session is revoked) when interrupted.
                goLeader.send(SIGINT)
                #expect(try await goLeader.waitForExit(within: .seconds(10)) != nil)
                let leadership = try await election.campaign(value: "swift-value".utf8, timeout: .seconds(20))
                let observed = try await CLIRunner.runShell(
                    // Listen mode prints the current leader at once, then runs until stopped: bounded here.
                    "timeout 3 \(etcdctlPath) \(try await etcdctl(["elect", "-l", prefix]).joined(separator: " ")); true")
                #expect(observed.output.contains("swift-value"), "etcdctl elect -l printed: \(observed.output)")
                try await election.resign(leadership)
            }
        }
    }
}
