import ChildProcesses
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the built `etcdlock` binary, as a user would (CLI tests check its output and status).
public enum CLIRunner {
    /// The `etcdlock` binary next to the test bundle (both live in SwiftPM's bin directory), or
    /// `ETCDLOCK_BINARY` when set (to check that a test fails against an older build).
    public static var binary: String {
        if let chosen = ProcessInfo.processInfo.environment["ETCDLOCK_BINARY"], !chosen.isEmpty { return chosen }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
            .appendingPathComponent("etcdlock").path
        if FileManager.default.isExecutableFile(atPath: beside) { return beside }
        return ScriptRunner.repositoryRoot.appendingPathComponent(".build/debug/etcdlock").path
    }

    /// What one run printed and how it ended.
    public struct Outcome: Sendable {
        /// The exit status.
        public var status: Int32
        /// Standard output.
        public var output: String
        /// Standard error.
        public var errors: String
    }

    /// The repository root (the demo runs `scripts/etcd-cluster` from there).
    public static var repositoryRoot: String { ScriptRunner.repositoryRoot.path }

    /// Runs `etcdlock arguments…` to completion.
    public static func run(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil
    ) async throws -> Outcome {
        let outcome = try await ScriptRunner.runProgram(
            binary, arguments, environment: environment, workingDirectory: workingDirectory)
        return Outcome(status: outcome.status, output: outcome.output, errors: outcome.errors)
    }

    /// Runs `script` with `/bin/sh -c`, `$0` being the `etcdlock` binary: for arguments a `String`
    /// cannot carry, such as bytes that are not valid UTF-8 (`"$(printf 'x\377')"`).
    public static func runShell(_ script: String, environment: [String: String] = [:]) async throws -> Outcome {
        let outcome = try await ScriptRunner.runProgram("/bin/sh", ["-c", script, binary], environment: environment)
        return Outcome(status: outcome.status, output: outcome.output, errors: outcome.errors)
    }

    /// Starts another program (`etcdctl`, say) in the background, like ``start(_:environment:)``.
    public static func startProgram(_ path: String, _ arguments: [String], environment: [String: String] = [:]) throws -> RunningCommand {
        try RunningCommand(path, arguments, environment: environment)
    }

    /// Starts `etcdlock arguments…` in the background; its output goes to files read on demand.
    public static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> RunningCommand {
        try RunningCommand(binary, arguments, environment: environment)
    }
}

/// A command running in the background.
public final class RunningCommand: Sendable {
    private let process: SpawnedProcess
    private let outputPath: String
    /// The process ID.
    public var pid: Int32 { process.pid }

    init(_ path: String, _ arguments: [String], environment: [String: String]) throws {
        outputPath = FileManager.default.temporaryDirectory.appendingPathComponent("etcdlock-cli-\(UUID().uuidString).out").path
        process = try SpawnedProcess(
            path: path, arguments: arguments, environment: environment, output: .file(outputPath), errorPath: outputPath)
    }

    /// Everything it printed so far (stdout and stderr interleaved).
    public var output: String { (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? "" }

    /// Its exit status, or `nil` while it runs.
    public var exitStatus: Int32? { process.exitStatus }

    /// Sends `signal` to it.
    public func send(_ signal: Int32) { process.send(signal) }

    /// Waits up to `limit` for it to exit; returns its status, or `nil` if it is still running.
    public func waitForExit(within limit: Duration) async throws -> Int32? {
        let exited = try await eventually(within: limit, every: .milliseconds(20)) { self.process.exitStatus != nil }
        return exited ? process.exitStatus : nil
    }

    deinit {
        process.send(SIGKILL)
        _ = process.exitStatus
        try? FileManager.default.removeItem(atPath: outputPath)
    }
}
