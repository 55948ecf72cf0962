import ChildProcesses
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs the repository's scripts from tests without blocking a Swift concurrency thread.
enum ScriptRunner {
    /// The repository root, found from this file's location.
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The result of one script run.
    struct Outcome: Sendable {
        var status: Int32
        var output: String
        var errors: String
    }

    /// Runs `scripts/<name> arguments…` and returns its exit status and output.
    static func run(_ name: String, _ arguments: [String]) async throws -> Outcome {
        try await runProgram(repositoryRoot.appendingPathComponent("scripts/\(name)").path, arguments)
    }

    /// Runs the program at `path` and returns its exit status and output.
    ///
    /// Output goes to temporary files, not pipes: a process the program leaves running (an etcd
    /// member) could inherit a pipe's write end and the read would never see its end.
    static func runProgram(
        _ path: String, _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil
    ) async throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory
        let outputPath = directory.appendingPathComponent("etcdlock-run-\(UUID().uuidString).out").path
        let errorsPath = directory.appendingPathComponent("etcdlock-run-\(UUID().uuidString).err").path
        defer {
            try? FileManager.default.removeItem(atPath: outputPath)
            try? FileManager.default.removeItem(atPath: errorsPath)
        }
        let process = try SpawnedProcess(
            path: path, arguments: arguments, environment: environment, workingDirectory: workingDirectory,
            output: .file(outputPath), errorPath: errorsPath)
        guard let status = await process.wait() else {
            process.send(SIGKILL)
            throw CancellationError()
        }
        let out = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOfFile: errorsPath, encoding: .utf8)) ?? ""
        return Outcome(status: status, output: out, errors: err)
    }

    /// Runs a script synchronously (for `atexit`, where nothing else runs any more).
    static func runBlocking(_ name: String, _ arguments: [String]) {
        guard let process = try? SpawnedProcess(
            path: repositoryRoot.appendingPathComponent("scripts/\(name)").path, arguments: arguments,
            output: .file("/dev/null"), errorPath: "/dev/null")
        else { return }
        _ = process.waitBlocking()
    }
}

/// A failure of the test environment itself (etcd could not be started, a member command failed).
public struct TestEnvironmentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String

    /// An error saying `description`.
    public init(description: String) { self.description = description }
}
