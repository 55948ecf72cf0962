import Dispatch
import Foundation
import Synchronization

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

/// A child process run while a lock is held.
final class ChildProcess: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [UUID: CheckedContinuation<Int32?, Never>] = [:]
    }

    /// Shared with the termination handler, which runs on Foundation's thread.
    private final class Shared: Sendable {
        let state = Mutex(State())
    }

    private let process: Process
    private let shared = Shared()
    let identifier: Int32

    /// Starts `command` with `environment` added to this process's environment.
    init(command: [String], environment: [String: String]) throws {
        guard let executable = command.first else { throw UsageError(description: "no command given after --") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [executable] + command.dropFirst()
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        self.process = process
        let shared = self.shared
        process.terminationHandler = { finished in
            let status = finished.terminationReason == .uncaughtSignal
                ? 128 + finished.terminationStatus : finished.terminationStatus
            let waiters = shared.state.withLock { state -> [CheckedContinuation<Int32?, Never>] in
                state.status = status
                defer { state.waiters = [:] }
                return Array(state.waiters.values)
            }
            for waiter in waiters { waiter.resume(returning: status) }
        }
        try process.run()
        identifier = process.processIdentifier
    }

    /// Waits for the child to exit and returns its exit status (128 + signal when killed by
    /// one), or `nil` when the waiting task is cancelled first.
    func wait() async -> Int32? {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                let status = shared.state.withLock { state -> Int32?? in
                    if let status = state.status { return .some(status) }
                    state.waiters[id] = continuation
                    return .none
                }
                if case .some(let status) = status { continuation.resume(returning: status) }
            }
        } onCancel: {
            let waiter = shared.state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.resume(returning: nil)
        }
    }

    /// Sends `signal` to the child.
    func send(_ signal: Int32) {
        _ = kill(identifier, signal)
    }
}
