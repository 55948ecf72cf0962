import CProcessGuard
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A command run in a process group of its own, under a guard process that kills the whole group
/// when this process dies for any reason (SIGKILL included).
///
/// The guard is a small forked process (see `CProcessGuard.h`) that leads the group and runs the
/// command as its child: the command starts with an empty signal mask, default signal dispositions
/// and only descriptors 0–2 open. The guard ignores the signals a supervisor sends the group, and
/// exits with the command's status. It holds the read end of a pipe whose write end only this
/// process has: when this process ends, the pipe reads end-of-file and the guard sends SIGKILL to
/// the group. That works on every POSIX system and has no race with an early death, unlike
/// Linux's parent-death signal (which fires when the *thread* that forked exits, and would only
/// reach the direct child, not the command's own children).
///
/// Descendants that leave the group (`setsid`, `setpgid`) are no longer covered.
///
/// The group is never signalled once its ID may be another group's. The ID is the guard's PID,
/// and a PID is reused only once its process is reaped: the exited guard is kept as a zombie
/// (observed, not reaped) until ``finish()``, and on Linux whether the group still has live
/// members is read from the process table rather than by signalling the ID. (Elsewhere the guard
/// is reaped at exit and the group probed with `kill(-group, 0)`, which a reused ID would fool.)
public final class GuardedCommand: Sendable {
    /// The process group's ID (the guard's process ID).
    public let groupID: pid_t
    private let guardProcess: SpawnedProcess
    private let control: Int32
    /// Whether the terminal's foreground was handed to the group (taken back by ``finish()``).
    public let tookTerminal: Bool

    /// Starts `executable` (a path, as bytes) with `arguments` (the first is the program's name, `argv[0]`)
    /// and `environment` (complete `NAME=value` entries).
    ///
    /// On Linux this process becomes a child subreaper (`PR_SET_CHILD_SUBREAPER`): descendants
    /// orphaned inside the group are reparented here and reaped by ``groupIsAlive``.
    ///
    /// - Parameter takeTerminal: when standard input is a terminal in whose foreground this
    ///   process runs, make the command's group the foreground group (so it can read the terminal
    ///   and receives Ctrl-C directly) until ``finish()``.
    /// - Parameter deadline: when the guard kills the group unless ``extendDeadline(to:)`` moved it
    ///   (`nil`: never): a supervisor that is stopped or frozen cannot vouch for its lock.
    public init(
        executable: [UInt8], arguments: [[UInt8]], environment: [[UInt8]], takeTerminal: Bool,
        deadline: ContinuousClock.Instant?
    ) throws {
        _ = cpg_become_subreaper()
        var guardPID: pid_t = 0
        var controlDescriptor: Int32 = -1
        let name = String(decoding: executable, as: UTF8.self)
        let status = withCStrings([executable]) { path in
            withCStrings(arguments) { argv in
                withCStrings(environment) { envp in
                    cpg_spawn(path[0], argv, envp, &guardPID, &controlDescriptor)
                }
            }
        }
        guard status == 0 else {
            throw SpawnError(description: "cannot start \(name): \(String(cString: strerror(status)))")
        }
        groupID = guardPID
        control = controlDescriptor
        guardProcess = SpawnedProcess(adopting: guardPID, keepingZombie: Self.readsProcessTable)
        let handed = cpg_release(controlDescriptor, guardPID, takeTerminal ? 1 : 0, Self.milliseconds(until: deadline))
        tookTerminal = handed == 1
        if handed < 0 {
            close(controlDescriptor)
            _ = guardProcess.waitBlocking()
            throw SpawnError(description: "cannot start \(name): the guard process did not start")
        }
    }

    /// Moves the instant at which the guard kills the group (`nil`: never).
    public func extendDeadline(to deadline: ContinuousClock.Instant?) {
        _ = cpg_extend(control, Self.milliseconds(until: deadline))
    }

    private static func milliseconds(until deadline: ContinuousClock.Instant?) -> Int64 {
        guard let deadline else { return -1 }
        let (seconds, attoseconds) = ContinuousClock.now.duration(to: deadline).components
        return max(0, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Waits for the command to exit and returns its status (128 + N when signal N ended it;
    /// 127 when it was not found, 126 when it could not be run), or `nil` when the waiting task
    /// is cancelled first.
    public func wait() async -> Int32? { await guardProcess.wait() }

    /// The command's exit status, or `nil` while it runs.
    public var exitStatus: Int32? { guardProcess.exitStatus }

    /// Whether reading the process table tells which group members live (Linux).
    #if os(Linux)
    private static let readsProcessTable = true
    #else
    private static let readsProcessTable = false
    #endif

    /// Whether any process of the group is still alive (zombies do not count; orphaned members
    /// this process adopted as subreaper are reaped on the way, the guard is kept).
    public var groupIsAlive: Bool {
        _ = guardProcess.exitStatus
        var alive = false
        guardProcess.whileNotReaped {
            alive = Self.readsProcessTable
                ? cpg_group_has_live_members(groupID, groupID) == 1 : kill(-groupID, 0) == 0 || errno == EPERM
        }
        return alive
    }

    /// Sends `signal` to every process in the group (the guard ignores the usual stop signals),
    /// as long as the group's ID is still its own.
    public func signalGroup(_ signal: Int32) {
        guardProcess.whileNotReaped { _ = kill(-groupID, signal) }
    }

    /// Stops the whole group: sends `signal` (and SIGCONT, so a stopped group can act on it), then SIGKILL to what is left after `grace`, and waits
    /// (at most `grace` plus 2 seconds in all) until no process of the group is left.
    ///
    /// - Returns: the command's exit status, or `nil` if it had not been reaped by then.
    @discardableResult
    public func stopGroup(with signal: Int32, grace: Duration) async -> Int32? {
        let start = ContinuousClock.now
        if groupIsAlive {
            signalGroup(signal)
            signalGroup(SIGCONT)
        }
        if await waitUntilGroupIsGone(until: start + grace) { return exitStatus }
        signalGroup(SIGKILL)
        _ = await waitUntilGroupIsGone(until: start + grace + .seconds(2))
        return exitStatus
    }

    /// Polls until the group is empty or `deadline` passes; returns whether it emptied.
    private func waitUntilGroupIsGone(until deadline: ContinuousClock.Instant) async -> Bool {
        while groupIsAlive {
            if ContinuousClock.now >= deadline { return false }
            // No event tells when a process group empties; polling its existence is the way.
            try? await Task.sleep(for: .milliseconds(10))
        }
        return true
    }

    /// Gives the terminal back to this process's group (when it was handed over) and closes the
    /// control pipe, after which the guard (if still alive) kills whatever is left of the group
    /// and exits; then reaps the guard (waiting up to a second for it), which frees the group's ID.
    public func finish() {
        if tookTerminal { cpg_reclaim_terminal() }
        close(control)
        let deadline = ContinuousClock.now + .seconds(1)
        while !guardProcess.reap(), ContinuousClock.now < deadline {
            usleep(1000)
        }
    }
}
