import Etcd
import EtcdLock
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `etcdlock lock NAME -- COMMAND`: runs a command while holding a lock, as its supervisor.
struct LockCommand: Command {
    static let name = "lock"
    static let abstract = "run a command while holding a lock"
    static let usage = """
        Usage: etcdlock lock NAME [--read | --write | --permits N] [options] -- COMMAND [ARGS...]

        Waits for the lock NAME, then runs COMMAND while holding it, with the fencing token in
        its environment as ETCDLOCK_FENCING_TOKEN (the lock key as ETCDLOCK_LOCK_KEY, the lease
        as ETCDLOCK_LEASE, the kind of hold as ETCDLOCK_LOCK_MODE: exclusive, read, write or
        permit). COMMAND and everything it starts run only while the lock is held.

        Kinds of lock (at most one of --read, --write, --permits; the default is exclusive):
          (none)             a mutex: one holder at a time
          --read             a shared hold of the read/write lock NAME: any number of readers
                             at once, never with a writer; a waiting writer goes first
          --write            the exclusive hold of the read/write lock NAME (no readers)
          --permits N        one of N permits of the semaphore NAME (N from 1 to \(EtcdSemaphore.maximumPermits)):
                             at most N holders at once. Every user of NAME must pass the same
                             N: while holders with another count remain, etcdlock exits 78
          A mutex, a read/write lock and a semaphore of one name are unrelated locks.

        How COMMAND runs:
          - in a process group of its own, with an empty signal mask and default signal
            dispositions, standard input, output and error inherited, no other descriptors;
            when standard input is the terminal etcdlock runs in the foreground of, COMMAND's
            group gets the terminal (Ctrl-C goes straight to it) until it exits;
          - when COMMAND exits, any of its descendants still in the group get SIGTERM (SIGKILL
            after --kill-after) before the lock is released;
          - if the lock is lost (session expired, key deleted), the group gets SIGTERM, then
            SIGKILL after --kill-after, and etcdlock exits 1 without waiting on etcd;
          - on SIGINT, SIGTERM or SIGHUP, etcdlock sends that signal to the group, SIGKILL after
            --kill-after, releases the lock and exits 128 + the signal (130, 143, 129);
          - if etcdlock itself dies, even by SIGKILL, a guard process kills the whole group at
            once; if etcdlock is stopped or frozen past its session's local deadline, the guard
            kills the group then (descendants that leave the group, with setsid or setpgid,
            escape both).
        While waiting, SIGINT, SIGTERM or SIGHUP withdraws the waiter's key and revokes its
        lease before etcdlock exits 128 + the signal; an etcd that is unreachable for a while
        is waited out until --timeout or the session's TTL runs out.

        \(ConnectionOptions.help)
          --ttl SECONDS      session TTL: how soon others take over after a crash (default 10)
          --timeout SECONDS  give up waiting after this long (exit 75); not with --try
          --try              do not wait: exit 75 at once if someone holds the lock
          --namespace NS     lock namespace (default "default")
          --kill-after SECONDS  grace between SIGTERM and SIGKILL when stopping COMMAND (default 5)
          --lock-delay SECONDS  after a holder's session is lost (not released), keep the lock
                             unavailable this long (at most 3600; exclusive, --read and --write
                             only; every user of the lock must pass the same value)

        Exit status: COMMAND's status (128 + N when signal N ended it); 1 lock lost; 64 usage;
        69 etcd unavailable; 75 not acquired; 78 the semaphore is held with another --permits
        count; 127 COMMAND not found, 126 not executable; 128 + N when etcdlock was stopped by
        signal N.
        """

    let lockName: String
    let connection: ConnectionOptions
    let ttl: Duration
    let timeout: Duration?
    let tryOnly: Bool
    let namespace: String
    let killAfter: Duration
    let recipe: LockRecipe.Choice
    let lockDelay: Duration?
    let command: [CommandLineArgument]

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "10", option: "--ttl", maximum: 365 * 24 * 3600)
        timeout = try arguments.option("--timeout").map { try parseSeconds($0, option: "--timeout") }
        tryOnly = arguments.flag("--try")
        namespace = try arguments.option("--namespace") ?? "default"
        killAfter = try parseSeconds(try arguments.option("--kill-after") ?? "5", option: "--kill-after", maximum: 24 * 3600)
        recipe = try Self.parseRecipe(&arguments)
        let maximumDelay = Double(LockDelay.maximum.components.seconds)
        lockDelay = try arguments.option("--lock-delay").map { try parseSeconds($0, option: "--lock-delay", maximum: maximumDelay) }
        lockName = try arguments.positional("the lock NAME")
        command = arguments.trailing
        if command.isEmpty { throw UsageError(description: "missing -- COMMAND [ARGS...]") }
        if tryOnly && timeout != nil { throw UsageError(description: "--try and --timeout exclude each other") }
        if case .permits = recipe, lockDelay != nil {
            throw UsageError(description: "--lock-delay does not apply to a semaphore (--permits)")
        }
    }

    /// `--read`, `--write` or `--permits N`, at most one of them.
    private static func parseRecipe(_ arguments: inout Arguments) throws -> LockRecipe.Choice {
        var chosen: [LockRecipe.Choice] = []
        if arguments.flag("--read") { chosen.append(.read) }
        if arguments.flag("--write") { chosen.append(.write) }
        if let text = try arguments.option("--permits") {
            guard let permits = Int(text), (1...EtcdSemaphore.maximumPermits).contains(permits) else {
                throw UsageError(
                    description: "--permits must be a whole number from 1 to \(EtcdSemaphore.maximumPermits), not \(text)")
            }
            chosen.append(.permits(permits))
        }
        guard chosen.count <= 1 else { throw UsageError(description: "--read, --write and --permits exclude each other") }
        return chosen.first ?? .exclusive
    }

    /// How long granting the session may take: within `--timeout` when one is given.
    private var grantTimeout: Duration? { timeout.map { min($0, connection.configuration.requestTimeout) } }

    func run() async throws -> ExitStatus {
        // Caught from the start: a waiter stopped by a signal must withdraw its key.
        let signals = TerminationSignals()
        guard let executable = ExecutableSearch.find(command[0].bytes) else {
            Console.error("etcdlock: \(command[0].shown): command not found")
            return ExitStatus(code: 127)
        }
        return try await EtcdClient.withClient(connection.configuration) { client in
            // A bounded wait bounds getting the session too (a frozen etcd answers nothing).
            try await EtcdSession.withSession(client, ttl: ttl, grantTimeout: grantTimeout) { session in
                let held = try LockRecipe(recipe, name: lockName, session: session, namespace: namespace, lockDelay: lockDelay)
                switch try await acquire(held, signals: signals) {
                case .acquired(let lock):
                    let supervisor = CommandSupervisor(
                        executable: executable, command: command, killAfter: killAfter, lockName: lockName)
                    return try await supervisor.run(holding: lock, recipe: held, session: session, signals: signals)
                case .notAcquired(let status):
                    return status
                }
            }
        }
    }

    private enum Acquisition: Sendable {
        case acquired(LockGuard)
        case notAcquired(ExitStatus)
    }

    private enum AcquireEvent: Sendable {
        case finished(Result<Acquisition, any Error>)
        case signal(Int32)
    }

    /// Takes the lock (or finds it held, with `--try`), unless a stopping signal comes first: then
    /// the attempt is cancelled, which withdraws its key, and the signal's exit status is returned.
    private func acquire(_ recipe: LockRecipe, signals: TerminationSignals) async throws -> Acquisition {
        let (first, late) = await withTaskGroup(of: AcquireEvent?.self) { group in
            group.addTask { .finished(await Result(catching: { try await attempt(recipe) })) }
            group.addTask { await signals.wait().map { .signal($0) } }
            let first = await group.next() ?? nil
            group.cancelAll()
            // The other task's outcome too: an acquisition that completed as the signal came in
            // must be released, not forgotten.
            var late: AcquireEvent?
            for await event in group where event != nil { late = event }
            return (first, late)
        }
        switch first {
        case .finished(let result)?:
            return try result.get()
        case .signal(let number)?:
            // An acquisition that completed as the signal came in is released with the session's
            // lease, which is revoked on the way out.
            _ = late
            Console.error("etcdlock: \(signalName(number)) while waiting for \(lockName); withdrew")
            return .notAcquired(ExitStatus(code: 128 + number))
        case nil:
            throw LockError(code: .cancelled, message: "waiting for \(lockName) was cancelled")
        }
    }

    private func attempt(_ recipe: LockRecipe) async throws -> Acquisition {
        do {
            if tryOnly {
                switch try await recipe.tryAcquire() {
                case .acquired(let lock):
                    return .acquired(lock)
                case .heldByOther(let holder):
                    Console.error("etcdlock: \(recipe.contention(holder, name: lockName))")
                    return .notAcquired(.temporaryFailure)
                }
            }
            return .acquired(try await recipe.acquire(timeout: timeout))
        } catch let error as LockError where error.code == .timeout {
            Console.error("etcdlock: \(lockName) was not acquired within the timeout")
            return .notAcquired(.temporaryFailure)
        } catch let error as LockError where error.code == .permitsMismatch {
            Console.error("etcdlock: \(error.message); every user of a semaphore must pass the same --permits")
            return .notAcquired(EtcdLockCommand.exitStatus(for: error))
        }
    }
}

extension Result where Failure == any Error {
    /// The outcome of `body`, thrown errors included.
    init(catching body: () async throws -> Success) async {
        do { self = .success(try await body()) } catch { self = .failure(error) }
    }
}
