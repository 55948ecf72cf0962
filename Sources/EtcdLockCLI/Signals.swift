import Dispatch
import Foundation
import ChildProcesses
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SIGINT, SIGTERM and SIGHUP, caught from the moment a command starts (instead of dying), for
/// commands that must clean up before they exit: withdraw a waiter key, stop a supervised
/// command, resign.
///
/// Any number of tasks can wait for the first signal; a signal that arrived before a task asked
/// is not missed.
final class TerminationSignals: Sendable {
    /// The signals that ask a command to stop.
    static let stopping: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    private let inbox = SignalInbox()
    private let sources: OwnedSignalSources

    /// Starts catching the ``stopping`` signals.
    init() {
        let inbox = self.inbox
        sources = OwnedSignalSources(
            Self.stopping.map { number -> any DispatchSourceSignal in
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler { inbox.deliver(number) }
                source.resume()
                return source
            })
    }

    /// How many signals were received so far.
    var count: Int { inbox.count }

    /// Waits until `count` signals have been received in all (the first one by default) and
    /// returns the latest of them; `nil` when the waiting task is cancelled first.
    func wait(forCount count: Int = 1) async -> Int32? { await inbox.wait(forCount: count) }
}

/// The signals received so far, and the tasks waiting for them.
private final class SignalInbox: Sendable {
    private struct State {
        var received: [Int32] = []
        var waiters: [UUID: (count: Int, continuation: CheckedContinuation<Int32?, Never>)] = [:]
    }

    private let state = Mutex(State())

    var count: Int { state.withLock { $0.received.count } }

    func deliver(_ number: Int32) {
        let ready = state.withLock { state -> [CheckedContinuation<Int32?, Never>] in
            state.received.append(number)
            let count = state.received.count
            let due = state.waiters.filter { $0.value.count <= count }
            for id in due.keys { state.waiters[id] = nil }
            return due.values.map(\.continuation)
        }
        for continuation in ready { continuation.resume(returning: number) }
    }

    func wait(forCount count: Int) async -> Int32? {
        let id = UUID()
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Int32?, Never>) in
                // Checked under the lock the cancellation handler takes: a task cancelled before
                // it got here must not register a waiter that nothing would resume.
                let outcome = state.withLock { state -> Int32?? in
                    if state.received.count >= count { return .some(state.received[count - 1]) }
                    if Task.isCancelled { return .some(nil) }
                    state.waiters[id] = (count, continuation)
                    return .none
                }
                if let outcome { continuation.resume(returning: outcome) }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(returning: nil)
        }
    }
}

/// Keeps signal sources alive as long as their owner.
private final class OwnedSignalSources: Sendable {
    // Sendable: the array is immutable after init, and DispatchSource's methods are documented
    // as safe to call from any thread.
    nonisolated(unsafe) private let sources: [any DispatchSourceSignal]
    init(_ sources: [any DispatchSourceSignal]) { self.sources = sources }
    deinit { for source in sources { source.cancel() } }
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
