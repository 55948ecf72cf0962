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
        let process = Process()
        process.executableURL = repositoryRoot.appendingPathComponent("scripts/\(name)")
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        process.standardInput = FileHandle.nullDevice
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { finished in
                let out = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                let err = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
                continuation.resume(returning: Outcome(status: finished.terminationStatus, output: out, errors: err))
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
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
}
