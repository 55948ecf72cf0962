import Dispatch
import Foundation
import ChildProcesses

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT and SIGTERM as an async stream, for commands that run until told to stop.
enum TerminationSignals {
    /// Starts catching SIGINT and SIGTERM (instead of dying) and yields each one received.
    static func stream() -> AsyncStream<Int32> {
        AsyncStream { continuation in
            let sources = [SIGINT, SIGTERM].map { number -> any DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { continuation.yield(number) }
                source.resume()
                return source
            }
            let owned = OwnedSignalSources(sources)
            continuation.onTermination = { _ in owned.cancel() }
        }
    }
}

/// Keeps signal sources alive until the stream ends.
private final class OwnedSignalSources: @unchecked Sendable {
    // @unchecked Sendable: the array is immutable after init, and DispatchSource.cancel() is
    // documented as safe to call from any thread.
    private let sources: [any DispatchSourceSignal]
    init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
    func cancel() { for source in sources { source.cancel() } }
}

/// A child process of the CLI: a command run under a lock, a demo worker, a script.
struct ChildProcess: Sendable {
    private let process: SpawnedProcess

    /// The path of the repository script `name`, relative to the working directory (the
    /// scripts run commands from the repository root).
    static func scriptPath(_ name: String) -> String {
        FileManager.default.currentDirectoryPath + "/scripts/" + name
    }

    /// Starts `command` (looked up in `PATH`) with `environment` added to this process's. With
    /// `onOutputLine`, its standard output is read line by line; otherwise it shares ours.
    init(
        command: [String], environment: [String: String], onOutputLine: (@Sendable (String) -> Void)? = nil
    ) throws {
        guard !command.isEmpty else { throw UsageError(description: "no command given after --") }
        process = try SpawnedProcess(
            path: "/usr/bin/env", arguments: command, environment: environment,
            output: onOutputLine.map { .lines($0) } ?? .inherit)
    }

    /// The child's process ID.
    var identifier: Int32 { process.pid }

    /// Waits for the child to exit and returns its exit status (128 + signal when killed by
    /// one), or `nil` when the waiting task is cancelled first.
    func wait() async -> Int32? { await process.wait() }

    /// Sends `signal` to the child.
    func send(_ signal: Int32) { process.send(signal) }
}
