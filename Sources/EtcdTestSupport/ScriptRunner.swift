import Foundation

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
    static func runProgram(_ path: String, _ arguments: [String]) async throws -> Outcome {
        let directory = FileManager.default.temporaryDirectory
        let outputURL = directory.appendingPathComponent("etcdlock-run-\(UUID().uuidString).out")
        let errorsURL = directory.appendingPathComponent("etcdlock-run-\(UUID().uuidString).err")
        FileManager.default.createFile(atPath: outputURL.path, contents: nil)
        FileManager.default.createFile(atPath: errorsURL.path, contents: nil)
        defer {
            try? FileManager.default.removeItem(at: outputURL)
            try? FileManager.default.removeItem(at: errorsURL)
        }
        let output = try FileHandle(forWritingTo: outputURL)
        let errors = try FileHandle(forWritingTo: errorsURL)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in
                continuation.resume(returning: finished.terminationStatus)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try? output.close()
        try? errors.close()
        let out = (try? String(contentsOf: outputURL, encoding: .utf8)) ?? ""
        let err = (try? String(contentsOf: errorsURL, encoding: .utf8)) ?? ""
        return Outcome(status: status, output: out, errors: err)
    }

    /// Runs a script synchronously (for `atexit`, where nothing else runs any more).
    static func runBlocking(_ name: String, _ arguments: [String]) {
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent("scripts/\(name)")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return }
        process.waitUntilExit()
    }
}

/// A failure of the test environment itself (etcd could not be started, a member command failed).
public struct TestEnvironmentError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String

    /// An error saying `description`.
    public init(description: String) { self.description = description }
}
