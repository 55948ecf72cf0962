import EtcdTestSupport
import Foundation
import Testing

/// The verifier's own behaviour; `scripts/test` also runs it under member faults (`scripts/chaos`).
@Suite("etcdlock verify", .timeLimit(.minutes(2)))
struct VerifyTests {
    private func environment() async throws -> [String: String] {
        ["ETCD_ENDPOINTS": try await TestEnvironment.endpoints().joined(separator: ",")]
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
    }

    @Test("client faults only: every check passes, and faults were injected")
    func passesUnderClientFaults() async throws {
        let result = try await CLIRunner.run(
            ["verify", "--duration", "8", "--clients", "3", "--seed", "5"], environment: try await environment())
        #expect(result.status == 0, "\(result.output)\n\(result.errors)")
        #expect(result.output.hasSuffix("verdict: 9 passed, 0 failed\n"))
        let faults = result.output.split(separator: "\n").first { $0.hasPrefix("faults injected: ") }
        let count = faults.flatMap { Int($0.dropFirst("faults injected: ".count).prefix { $0.isNumber }) } ?? 0
        #expect(count >= 2)
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
