import Etcd
import EtcdLock
import EtcdTestSupport
import Testing

// These run two of the README's examples against etcd, from a nonisolated test. That the README's
// code compiles as a user writes it (top-level code, @MainActor code, an actor) is checked by
// scripts/check-readme, which builds every Swift block of README.md in a package of its own.
@Suite("the README's example", .timeLimit(.minutes(1)))
struct ReadmeExampleTests {
    @Test("the client example from README.md compiles and runs as written (keys under a test prefix)")
    func clientExample() async throws {
        var configuration = try await TestEnvironment.configuration()
        configuration.requestTimeout = .seconds(5)
        let root = "/test/readme-\(ContinuousClock.now.hashValue)"
        var outcome: [String] = []
        try await EtcdClient.withClient(configuration) { client in
            // The README's code, with its keys moved under `root`.
            let written = try await client.put("\(root)/config/mode", value: "blue".utf8)
            let read = try await client.range(RangeRequest(.key("\(root)/config/mode")))
            outcome.append(read.keyValues.first?.valueString ?? "missing")
            #expect(read.keyValues.first?.modRevision == written.header.revision)

            let created = try await client.txn(
                Txn(if: [.createRevision(of: "\(root)/jobs/42/owner", .equal, .zero)],
                    then: [.put("\(root)/jobs/42/owner", value: "worker-a".utf8)],
                    else: [.range(RangeRequest(.key("\(root)/jobs/42/owner")))]))
            outcome.append(created.succeeded ? "claimed" : "taken")

            let lease = try await client.grantLease(ttlSeconds: 10)
            _ = try await client.put("\(root)/workers/a", value: "alive".utf8, lease: lease.id)
            _ = try await client.keepAliveOnce(lease.id)

            let watch = try await client.watch(.prefix("\(root)/config/"))
            _ = try await client.put("\(root)/config/mode", value: "green".utf8)
            for try await event in watch {
                outcome.append("\(event.kind) \(event.keyValue.valueString)")
                break
            }
            _ = try await client.revokeLease(lease.id)
            _ = try await client.delete(.prefix("\(root)/"))
        }
        #expect(outcome == ["blue", "claimed", "put green"])
    }
}

@Suite("the README's lock example", .timeLimit(.minutes(1)))
struct ReadmeLockExampleTests {
    @Test("the lock example from README.md compiles and runs as written (key under a test prefix)")
    func lockExample() async throws {
        let configuration = try await TestEnvironment.configuration()
        let root = "/test/readme-lock-\(Int.random(in: 0..<1_000_000_000))"
        try await EtcdClient.withClient(configuration) { client in
            try await EtcdSession.withSession(client, ttl: .seconds(10)) { session in
                let mutex = try EtcdMutex("invoices-\(root.hashValue)", session: session)
                try await mutex.withLock(timeout: .seconds(30)) { lock in
                    let next = "1042"
                    try await mutex.fenced(lock, Txn(then: [.put("\(root)/invoices/next", value: next.utf8)]))
                }
            }
            let stored = try await client.range(RangeRequest(.key("\(root)/invoices/next")))
            #expect(stored.keyValues.first?.valueString == "1042")
            _ = try await client.delete(.prefix("\(root)/"))
        }
    }
}
