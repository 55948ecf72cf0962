import ChildProcesses
import Etcd
import EtcdLock
import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `etcdlock lock`'s COMMAND while the lock is held, and stops it (with everything it
/// started) when the lock is lost, when etcdlock is asked to stop, or when etcdlock dies.
///
/// COMMAND runs in a process group of its own under a guard process (``GuardedCommand``), so a
/// signal reaches the whole group and nothing of it outlives etcdlock.
struct CommandSupervisor: Sendable {
    /// The program to run (found in `PATH` already).
    let executable: [UInt8]
    /// COMMAND and its arguments, byte for byte.
    let command: [CommandLineArgument]
    /// The grace between the first signal and SIGKILL.
    let killAfter: Duration
    /// The lock's name, for messages.
    let lockName: String

    private enum Event: Sendable {
        case exited(Int32)
        case lost(String)
        case signal(Int32)
    }

    /// Runs COMMAND under `lock` and returns etcdlock's exit status: COMMAND's, 1 when the lock
    /// was lost, 128 + N when signal N asked etcdlock to stop.
    func run(
        holding lock: LockGuard, recipe: LockRecipe, session: EtcdSession, signals: TerminationSignals
    ) async throws -> ExitStatus {
        // The guard kills the group at the session's local deadline unless this process keeps
        // moving it: a stopped or frozen etcdlock cannot vouch for its lock any more.
        let child = try GuardedCommand(
            executable: executable, arguments: command.map(\.bytes),
            environment: environment(lock: lock, session: session), takeTerminal: true, deadline: session.validUntil)
        defer { child.finish() }
        let event: Event? = await firstResult(of: [
            {
                var sent = session.validUntil
                while !Task.isCancelled {
                    // Often: a keepalive that lands just before the deadline must reach the guard in time.
                    try? await Task.sleep(for: .milliseconds(20))
                    let current = session.validUntil
                    if current != sent {
                        child.extendDeadline(to: current)
                        sent = current
                    }
                }
                return nil
            },
            { await child.wait().map { .exited($0) } },
            // The session's loss or a deleted lock key (force-release), whichever comes first.
            { (try? await recipe.waitUntilLost(lock)).map { .lost("\($0)") } },
            { await signals.wait().map { .signal($0) } },
        ])
        switch event {
        case .exited(let status) where !session.isValid:
            // Killed by the guard at the session's deadline (etcdlock was stopped or starved), or
            // ended as the session was lost: either way the lock was not held to the end.
            Console.error("etcdlock: lost \(lockName) (token \(lock.token)): the session's deadline passed; the command was stopped (status \(status))")
            await stop(child, with: SIGTERM, signals: signals)
            return .failure
        case .exited(let status):
            // Descendants left in the group must not run on once the lock is released.
            if child.groupIsAlive { await stop(child, with: SIGTERM, signals: signals) }
            await release(lock, recipe: recipe)
            return ExitStatus(code: status)
        case .signal(let number):
            await stop(child, with: number, signals: signals)
            await release(lock, recipe: recipe)
            return ExitStatus(code: 128 + number)
        case .lost(let reason):
            Console.error("etcdlock: lost \(lockName) (token \(lock.token)): \(reason); stopping the command")
            await stop(child, with: SIGTERM, signals: signals)
            return .failure
        case nil:
            await stop(child, with: SIGTERM, signals: signals)
            throw LockError(code: .cancelled, message: "supervising the command was cancelled")
        }
    }

    /// Stops the group: `signal`, then SIGKILL after the grace, or at once when another stopping
    /// signal arrives meanwhile (a second Ctrl-C).
    private func stop(_ child: GuardedCommand, with signal: Int32, signals: TerminationSignals) async {
        let impatient = signals.count + 1
        await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                await child.stopGroup(with: signal, grace: killAfter)
                return true
            }
            group.addTask {
                if await signals.wait(forCount: impatient) != nil { child.signalGroup(SIGKILL) }
                return false
            }
            for await stopped in group where stopped {
                group.cancelAll()
            }
        }
    }

    /// Releases the lock once COMMAND is gone, insisting while etcd is unreachable (the next
    /// holder then gets it as soon as etcd is back, not a TTL later) until the session ends.
    private func release(_ lock: LockGuard, recipe: LockRecipe) async {
        let lockName = self.lockName
        let reported = Mutex(false)
        _ = await recipe.releaseUntilDone(lock) { error in
            let isFirst = reported.withLock { wasReported in
                defer { wasReported = true }
                return !wasReported
            }
            guard isFirst else { return }
            Console.error("etcdlock: releasing \(lockName) failed (\(error)); trying until the session ends")
        }
    }

    /// This process's environment, as bytes, with the lock's variables set.
    private func environment(lock: LockGuard, session: EtcdSession) -> [[UInt8]] {
        let added = [
            "ETCDLOCK_FENCING_TOKEN": lock.token.description, "ETCDLOCK_LOCK_KEY": lock.key.description,
            "ETCDLOCK_LEASE": session.lease.hexString, "ETCDLOCK_LOCK_MODE": lock.mode.rawValue,
        ]
        var entries: [[UInt8]] = []
        var cursor = environ
        while let entry = cursor.pointee {
            let bytes = UnsafeBufferPointer(start: entry, count: strlen(entry)).map { UInt8(bitPattern: $0) }
            let name = bytes.prefix { $0 != UInt8(ascii: "=") }
            if added[String(decoding: name, as: UTF8.self)] == nil { entries.append(bytes) }
            cursor += 1
        }
        return entries + added.sorted { $0.key < $1.key }.map { Array("\($0.key)=\($0.value)".utf8) }
    }
}
