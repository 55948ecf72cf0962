import Etcd
import EtcdLock
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `etcdlock lock NAME -- COMMAND`: runs a command while holding a lock.
struct LockCommand: Command {
    static let name = "lock"
    static let abstract = "run a command while holding a lock"
    static let usage = """
        Usage: etcdlock lock NAME [options] -- COMMAND [ARGS...]

        Runs COMMAND while holding the lock NAME, with its fencing token in the environment as
        ETCDLOCK_FENCING_TOKEN (and the lock key as ETCDLOCK_LOCK_KEY). If the lock is lost while
        COMMAND runs, COMMAND gets SIGTERM, then SIGKILL after --kill-after, and etcdlock exits 1.
        Otherwise it releases the lock and exits with COMMAND's status.

        \(ConnectionOptions.help)
          --ttl SECONDS      session TTL: how soon others take over after a crash (default 10)
          --timeout SECONDS  give up waiting after this long (exit 75)
          --try              do not wait: exit 75 at once if someone holds the lock
          --namespace NS     lock namespace (default "default")
          --kill-after SECONDS  grace between SIGTERM and SIGKILL when the lock is lost (default 5)

        Exit status: COMMAND's status; 1 lock lost; 64 usage; 69 etcd unavailable; 75 not acquired.
        """

    let lockName: String
    let connection: ConnectionOptions
    let ttl: Duration
    let timeout: Duration?
    let tryOnly: Bool
    let namespace: String
    let killAfter: Duration
    let command: [String]

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "10", option: "--ttl")
        timeout = try arguments.option("--timeout").map { try parseSeconds($0, option: "--timeout") }
        tryOnly = arguments.flag("--try")
        namespace = try arguments.option("--namespace") ?? "default"
        killAfter = try parseSeconds(try arguments.option("--kill-after") ?? "5", option: "--kill-after")
        lockName = try arguments.positional("the lock NAME")
        command = arguments.trailing
        if command.isEmpty { throw UsageError(description: "missing -- COMMAND [ARGS...]") }
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            try await EtcdSession.withSession(client, ttl: ttl) { session in
                let mutex = try EtcdMutex(lockName, session: session, namespace: namespace)
                let lock: LockGuard
                if tryOnly {
                    switch try await mutex.tryLock() {
                    case .acquired(let acquired):
                        lock = acquired
                    case .heldByOther(let holder):
                        Console.error("etcdlock: \(lockName) is held by \(holder.owner) (token \(holder.token))")
                        return .temporaryFailure
                    }
                } else {
                    do {
                        lock = try await mutex.lock(timeout: timeout)
                    } catch let error as LockError where error.code == .timeout {
                        Console.error("etcdlock: \(lockName) was not acquired within the timeout")
                        return .temporaryFailure
                    }
                }
                return try await runHolding(lock, mutex: mutex, session: session)
            }
        }
    }

    private func runHolding(_ lock: LockGuard, mutex: EtcdMutex, session: EtcdSession) async throws -> ExitStatus {
        let child = try ChildProcess(
            command: command,
            environment: [
                "ETCDLOCK_FENCING_TOKEN": lock.token.description, "ETCDLOCK_LOCK_KEY": lock.key.description,
                "ETCDLOCK_LEASE": session.lease.hexString,
            ])
        enum Event: Sendable { case exited(Int32), lost(String), signal(Int32) }
        let signals = TerminationSignals.stream()
        let event = await withTaskGroup(of: Event.self) { group in
            group.addTask {
                guard let status = await child.wait() else { return .lost("cancelled") }
                return .exited(status)
            }
            group.addTask {
                // The session's loss or a deleted lock key (force-release), whichever comes first.
                let loss = try? await mutex.waitUntilLost(lock)
                return .lost(loss.map { "\($0)" } ?? "cancelled")
            }
            group.addTask {
                for await number in signals { return .signal(number) }
                // The stream ends only when this task is cancelled, after another child won.
                return .signal(SIGTERM)
            }
            let first = await group.next() ?? .lost("cancelled")
            group.cancelAll()
            return first
        }
        switch event {
        case .exited(let status):
            try await mutex.unlock(lock)
            return ExitStatus(code: status)
        case .signal(let number):
            child.send(number)
            let status = await stop(child)
            try? await mutex.unlock(lock)
            return ExitStatus(code: status)
        case .lost(let reason):
            Console.error("etcdlock: lost \(lockName) (token \(lock.token)): \(reason); stopping the command")
            child.send(SIGTERM)
            _ = await stop(child)
            try? await mutex.unlock(lock)
            return .failure
        }
    }

    /// Waits for the child, sending SIGKILL if it outlives the grace period.
    private func stop(_ child: ChildProcess) async -> Int32 {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { await child.wait() }
            group.addTask {
                do {
                    try await Task.sleep(for: killAfter)
                } catch {
                    return nil
                }
                child.send(SIGKILL)
                return nil
            }
            for await result in group {
                if let status = result {
                    group.cancelAll()
                    return status
                }
            }
            return 128 + SIGKILL
        }
    }
}
