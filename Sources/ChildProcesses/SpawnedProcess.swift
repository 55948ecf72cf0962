import CProcessGuard
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A child process started with `posix_spawn` and reaped by polling `waitpid(WNOHANG)`.
///
/// Neither the CLI nor the tests use Foundation's `Process`: its exit notifications go through a
/// process-wide SIGCHLD handler and run-loop thread, and with many children spawned concurrently
/// runs were seen waiting forever for an exit that had happened. Polling the one PID we started
/// has no shared machinery.
public final class SpawnedProcess: Sendable {
    /// Where the child's standard output goes.
    public enum Output: Sendable {
        /// To a file (created or truncated).
        case file(String)
        /// Line by line to a handler, called on a reader thread of its own.
        case lines(@Sendable (String) -> Void)
        /// Shared with this process.
        case inherit
    }

    /// The child's process ID.
    public let pid: pid_t
    /// Whether an exited child stays a zombie until ``reap()`` (its ID reserved meanwhile).
    private let keepsZombie: Bool

    private struct State {
        /// The exit status, once the child has exited.
        var status: Int32?
        /// Whether the child was reaped: from then on its ID may be another process's.
        var isReaped = false
    }

    /// Only ever changed with its lock held, and every `kill` is sent with it held: the child
    /// cannot be reaped (and its ID reused) between the check and the signal.
    private let state = Mutex(State())

    /// Starts `path` with `arguments`; input is /dev/null.
    ///
    /// - Parameters:
    ///   - environment: variables added to this process's environment.
    ///   - workingDirectory: where the child starts (through `env -C`).
    ///   - output: where standard output goes.
    ///   - errorPath: a file for standard error (the output file when equal); `nil` inherits it.
    public init(
        path: String, arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil,
        output: Output, errorPath: String? = nil
    ) throws {
        var argv = [path] + arguments
        var program = path
        if let workingDirectory {
            argv = ["/usr/bin/env", "-C", workingDirectory] + argv
            program = "/usr/bin/env"
        }
        let variables = ProcessInfo.processInfo.environment.merging(environment) { $1 }.map { "\($0.key)=\($0.value)" }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        var pipeDescriptors: [Int32] = [-1, -1]
        var outputPath: String?
        switch output {
        case .file(let path):
            outputPath = path
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        case .lines:
            guard pipe(&pipeDescriptors) == 0 else { throw SpawnError(description: "pipe failed") }
            _ = fcntl(pipeDescriptors[0], F_SETFD, FD_CLOEXEC)
            posix_spawn_file_actions_adddup2(&actions, pipeDescriptors[1], 1)
            posix_spawn_file_actions_addclose(&actions, pipeDescriptors[0])
            posix_spawn_file_actions_addclose(&actions, pipeDescriptors[1])
        case .inherit:
            break
        }
        if let errorPath {
            if errorPath == outputPath {
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
            } else {
                posix_spawn_file_actions_addopen(&actions, 2, errorPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            }
        }
        // The child starts with no blocked signals and default dispositions, whatever the
        // spawning thread had (Dispatch threads block most signals; ignored ones survive exec).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        var allSignals = sigset_t()
        sigemptyset(&noSignals)
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var child: pid_t = 0
        let status = withCStrings(argv.map { Array($0.utf8) }) { argvPointers in
            withCStrings(variables.map { Array($0.utf8) }) { environmentPointers in
                posix_spawn(&child, program, &actions, &attributes, argvPointers, environmentPointers)
            }
        }
        if pipeDescriptors[1] >= 0 { close(pipeDescriptors[1]) }
        guard status == 0 else {
            if pipeDescriptors[0] >= 0 { close(pipeDescriptors[0]) }
            throw SpawnError(description: "cannot start \(path): \(String(cString: strerror(status)))")
        }
        pid = child
        keepsZombie = false
        if case .lines(let handler) = output {
            let descriptor = pipeDescriptors[0]
            let reader = Thread { Self.readLines(from: descriptor, handler) }
            reader.start()
        }
    }

    /// Takes over reaping `pid`, a child this process started some other way.
    ///
    /// With `keepingZombie`, the exited child is observed without being reaped, so its ID (a
    /// process group's, when it leads one) cannot be reused by another process until ``reap()``.
    init(adopting pid: pid_t, keepingZombie: Bool = false) {
        self.pid = pid
        keepsZombie = keepingZombie
    }

    /// Reads `descriptor` to its end, handing each line to `handler`, then closes it.
    private static func readLines(from descriptor: Int32, _ handler: @Sendable (String) -> Void) {
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = read(descriptor, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: 10) {
                handler(String(decoding: pending[0..<newline], as: UTF8.self))
                pending.removeSubrange(0...newline)
            }
        }
        if !pending.isEmpty { handler(String(decoding: pending, as: UTF8.self)) }
        close(descriptor)
    }

    /// The exit status (128 + signal when killed by one), or `nil` while it runs.
    public var exitStatus: Int32? {
        state.withLock { Self.poll(pid, &$0, keepingZombie: keepsZombie) }
    }

    /// Notices the child's exit (reaping it unless `keepingZombie`); its status, if it exited.
    private static func poll(_ pid: pid_t, _ state: inout State, keepingZombie: Bool) -> Int32? {
        if let status = state.status { return status }
        if keepingZombie {
            var status: Int32 = 0
            guard cpg_peek_exit(pid, &status) == 1 else { return nil }
            state.status = status
            return status
        }
        var status: Int32 = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let code = status & 0x7F
        state.status = code == 0 ? (status >> 8) & 0xFF : 128 + code
        state.isReaped = true
        return state.status
    }

    /// Reaps an exited child kept as a zombie (``init(adopting:keepingZombie:)``); whether it is
    /// reaped now. After this its ID may belong to another process.
    @discardableResult
    func reap() -> Bool {
        state.withLock { state in
            if state.isReaped { return true }
            guard Self.poll(pid, &state, keepingZombie: keepsZombie) != nil else { return false }
            var status: Int32 = 0
            _ = waitpid(pid, &status, WNOHANG)
            state.isReaped = true
            return true
        }
    }

    /// Runs `body` with the guarantee that the child's ID is still its own (it was not reaped):
    /// `body` is not run once it was. For signals to the child or to the group it leads.
    func whileNotReaped(_ body: () -> Void) {
        state.withLock { state in
            _ = Self.poll(pid, &state, keepingZombie: keepsZombie)
            if !state.isReaped { body() }
        }
    }

    /// Waits for the child to exit and returns its status; `nil` when the task is cancelled first.
    public func wait() async -> Int32? {
        while true {
            if let status = exitStatus { return status }
            // Polling the one child we started: see the type's documentation for why.
            do { try await Task.sleep(for: .milliseconds(10)) } catch { return nil }
        }
    }

    /// Blocks the calling thread until the child exits (for `atexit`, where nothing else runs).
    public func waitBlocking() -> Int32? {
        var status: Int32 = 0
        guard waitpid(pid, &status, 0) == pid else { return exitStatus }
        let code = status & 0x7F
        let result = code == 0 ? (status >> 8) & 0xFF : 128 + code
        state.withLock {
            $0.status = result
            $0.isReaped = true
        }
        return result
    }

    /// Sends `signal` to the child, unless it has exited (once reaped, its ID may be another
    /// process's).
    public func send(_ signal: Int32) {
        state.withLock { state in
            if Self.poll(pid, &state, keepingZombie: keepsZombie) == nil { _ = kill(pid, signal) }
        }
    }
}


/// A child process could not be started.
public struct SpawnError: Error, CustomStringConvertible, Sendable {
    /// What went wrong.
    public let description: String
}
