import Etcd
import EtcdLock
import Foundation
import LockVerification
import Synchronization

/// `etcdlock verify`: proves a lock recipe under faults. Client processes increment a register
/// under the lock with fenced writes (read/write lock readers read it with fenced reads;
/// semaphore holders log their sections in it) while a nemesis kills and pauses etcd members and
/// the clients themselves; a checker then compares the clients' histories with etcd's own
/// history of the register and of the lock's queue. Exits 1 on any violation.
struct VerifyCommand: Command {
    static let name = "verify"
    static let abstract = "check the lock's guarantees under injected faults"
    static let usage = """
        Usage: etcdlock verify [--endpoints URLS | --cluster-dir DIR] [--duration S] [--seed N] [options]

        Client processes loop: lock, read a register in etcd, work, write it back with a fenced
        write, unlock. A nemesis SIGSTOPs clients past their TTL and SIGKILLs them; with
        --cluster-dir it also kills (and restarts) etcd members and the leader, pauses members,
        and moves leadership, and clients reach members through fault-injecting proxies that
        it switches to blackhole, delay, reset, or deliver requests and drop responses. Then a
        checker verifies: the register equals the applied increments, every outcome a client
        saw matches etcd's history, tokens only increase, each write applied while its writer
        held the lock, accepted critical sections do not overlap, nothing is left behind, every
        client error was typed (no crash, no hang), no lock queue held a key whose owner
        waited for and held nothing (sampled during the run), and every stall (a waiter, no
        holder) is explained by an injected fault.

        --recipe rwlock: clients take the write hold one turn in three (a fenced increment, as
        above) and a read hold otherwise, reading the register twice with fenced reads (a txn
        whose compare is the reader key's create revision) with work between them. Checked too:
        each read was answered while its reader held (no writer ahead in etcd's queue at that
        revision), returned etcd's register at that revision, and no write applied between a
        reader's two reads; no write section overlaps any other section in real time (read
        sections may overlap each other).
        --recipe semaphore: holders write the register with fenced writes on entering and before
        leaving (no counter). Checked instead of the register and token checks: each write
        applied while its writer's key was among the first N of the queue, and at most N
        accepted holders overlap, both in etcd's history (from each permit's first to its last
        write revision) and in real time.

        \(ConnectionOptions.help)
          --cluster-dir DIR  a cluster started by scripts/etcd-cluster (3 members): enables member and link faults
          --no-link-faults   with --cluster-dir: clients talk to the members directly, no link faults
          --duration S       how long faults are injected (default 60)
          --seed N           fixes the fault schedule (default: random, printed)
          --clients N        client processes (default 4)
          --ttl S            the clients' session TTL (default 2)
          --locks N          locks (each with its register) the clients pick from at random (default 1)
          --lockers L        concurrent lockers in each client process, sharing its session (default 1)
          --history FILE     write every client's history there (default: a temporary file, kept on failure)
          --verbose          print each fault as it is injected
          --print-schedule   print the fault schedule for these options and exit
          --recipe R         the recipe under test: mutex (default), rwlock or semaphore
          --permits N        with --recipe semaphore: its permits (default 2)
          --unfenced         self-test: clients write (and read) without fencing, so the checker must find violations
          --via-service N    clients take the mutex through N replicas of `etcdlock serve` (2 to 4) that the
                             verifier starts on loopback: acquire with a long-poll, renew every TTL/3 while
                             holding, release, all over HTTP; their fenced writes go to etcd with the token
                             the service answered. The nemesis also kills (and restarts) and pauses replicas.

        Exit status: 0 when every check passed, 1 on a violation, 64 usage, 69 etcd unavailable.
        """

    let connection: ConnectionOptions
    let clusterDirectory: String?
    let duration: Duration
    let seed: UInt64
    let clients: Int
    let locks: Int
    let lockersPerClient: Int
    let ttl: Duration
    let ttlText: String
    let historyPath: String?
    let verbose: Bool
    let printSchedule: Bool
    let unfenced: Bool
    /// Whether clients talk to members through fault-injecting proxies (with --cluster-dir).
    let linkFaults: Bool
    /// The recipe under test.
    let recipe: VerifiedRecipe
    /// How many `etcdlock serve` replicas the clients go through (0: they use the library).
    let serviceReplicas: Int

    init(parsing arguments: inout Arguments) throws {
        var connection = try ConnectionOptions(parsing: &arguments)
        clusterDirectory = try arguments.option("--cluster-dir")
        if let clusterDirectory {
            let endpoints = try? String(contentsOfFile: clusterDirectory + "/endpoints", encoding: .utf8)
            guard let endpoints, !endpoints.isEmpty else {
                throw UsageError(description: "no cluster started by scripts/etcd-cluster in \(clusterDirectory)")
            }
            connection.endpoints = endpoints.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").map(String.init)
        }
        self.connection = connection
        duration = try parseSeconds(try arguments.option("--duration") ?? "60", option: "--duration")
        if let text = try arguments.option("--seed") {
            guard let seed = UInt64(text) else { throw UsageError(description: "--seed must be a non-negative integer") }
            self.seed = seed
        } else {
            seed = UInt64.random(in: 0..<1_000_000)
        }
        guard let clients = Int(try arguments.option("--clients") ?? "4"), (2...16).contains(clients) else {
            throw UsageError(description: "--clients must be from 2 to 16")
        }
        self.clients = clients
        guard let locks = Int(try arguments.option("--locks") ?? "1"), (1...16).contains(locks),
            let lockers = Int(try arguments.option("--lockers") ?? "1"), (1...16).contains(lockers)
        else { throw UsageError(description: "--locks and --lockers must be from 1 to 16") }
        self.locks = locks
        lockersPerClient = lockers
        ttlText = try arguments.option("--ttl") ?? "2"
        ttl = try parseSeconds(ttlText, option: "--ttl")
        historyPath = try arguments.option("--history")
        // Checked before the run, not after it: a history that cannot be written is a usage error.
        if let historyPath {
            let directory = (historyPath as NSString).deletingLastPathComponent
            guard FileManager.default.isWritableFile(atPath: directory.isEmpty ? "." : directory) else {
                throw UsageError(description: "--history: cannot write in \(directory.isEmpty ? "." : directory)")
            }
        }
        verbose = arguments.flag("--verbose")
        printSchedule = arguments.flag("--print-schedule")
        unfenced = arguments.flag("--unfenced")
        linkFaults = clusterDirectory != nil && !arguments.flag("--no-link-faults")
        recipe = try parseRecipe(&arguments)
        if let text = try arguments.option("--via-service") {
            guard let count = Int(text), (2...4).contains(count) else {
                throw UsageError(description: "--via-service needs a replica count from 2 to 4, not \(text)")
            }
            guard recipe == .mutex else {
                throw UsageError(description: "--via-service takes the mutex only")
            }
            // The service takes whole seconds from 1 to 3600 (it would refuse every acquire).
            guard let seconds = Int(ttlText), (1...3600).contains(seconds) else {
                throw UsageError(description: "with --via-service, --ttl must be whole seconds from 1 to 3600, not \(ttlText)")
            }
            serviceReplicas = count
        } else {
            serviceReplicas = 0
        }
    }

    private var schedule: FaultSchedule {
        FaultSchedule(
            seed: seed, duration: duration, clients: clients,
            members: clusterDirectory == nil ? 0 : connection.endpoints.count, ttl: ttl, links: linkFaults,
            replicas: serviceReplicas)
    }

    func run() async throws -> ExitStatus {
        let schedule = schedule
        if printSchedule {
            for fault in schedule.faults { Console.out(fault.description) }
            Console.out("schedule: seed \(seed), \(schedule.faults.count) faults, fingerprint \(schedule.fingerprint)")
            return .success
        }
        let run = UUID().uuidString.prefix(8).lowercased()
        let lockName = "verify-\(run)"
        let register = EtcdKey("/etcdlock-verify/\(run)/register")
        let lockNames = (0..<locks).map { "\(lockName)-\($0)" }
        let registers = (0..<locks).map { EtcdKey("\(register)-\($0)") }
        Console.out(
            "verify: \(recipe), \(clients) client processes"
                + (lockersPerClient > 1 ? " of \(lockersPerClient) lockers each" : "")
                + " on \(locks == 1 ? "lock \"\(lockNames[0])\"" : "\(locks) locks \"\(lockName)-*\"")"
                + ", session TTL \(ttlText)s, \(duration.components.seconds)s of faults, seed \(seed)")
        if unfenced { Console.out("verify: SELF-TEST: clients write without fencing; violations are expected") }
        let memberFaults = schedule.faults.contains { $0.kind.targetsMember }
        Console.out(
            "verify: \(schedule.faults.count) faults planned (schedule fingerprint \(schedule.fingerprint)); "
                + (memberFaults ? "etcd members \(connection.endpoints.count) under control" : "client faults only (no --cluster-dir)")
                + (linkFaults ? ", clients behind fault-injecting proxies" : "")
                + (serviceReplicas > 0 ? ", clients through \(serviceReplicas) etcdlock serve replicas" : ""))
        let mesh = linkFaults ? try ProxyMesh(clients: clients, memberEndpoints: connection.endpoints) : nil
        defer { mesh?.close() }
        let origin = MonotonicTime.now()
        // SIGINT, SIGTERM or SIGHUP ends the fault phase early: every fault is healed, clients
        // and replicas are stopped, and what ran is checked as usual.
        let signals = TerminationSignals()
        let interrupted = Mutex<Int32?>(nil)

        return try await EtcdClient.withClient(connection.configuration) { client in
            let startRevision = try await client.range(RangeRequest(.key(registers[0]))).header.revision
            // Replicas reach the members directly: the links under fault are the clients'.
            let replicas = serviceReplicas > 0 ? try await ServiceReplicaSet(count: serviceReplicas, endpoints: connection.endpoints) : nil
            let serviceURLs = await replicas?.urls ?? []
            let fleet = ClientFleet(clients: clients, hangLimit: .seconds(30)) { index, incarnation, fleet in
                try startClient(
                    index, incarnation: incarnation, endpoints: mesh?.endpoints(client: index) ?? connection.endpoints,
                    serviceURLs: serviceURLs, lockName: lockName, register: register, fleet: fleet)
            }
            var lockPrefixes: [EtcdKey] = []
            for name in lockNames { lockPrefixes.append(try await VerifiedLock.prefix(recipe, name: name, client: client)) }
            let sampler = QueueSampler(client: client, prefixes: lockPrefixes, readsOwners: replicas != nil)
            let tally = FaultTally()
            let start = ContinuousClock.now
            let nemesis = Nemesis(
                schedule: schedule,
                cluster: clusterDirectory.map { .init(directory: $0, client: client, members: connection.endpoints.count) },
                fleet: fleet, mesh: mesh, replicas: replicas, tally: tally, start: start, end: start + duration, verbose: verbose)
            await withTaskGroup(of: Void.self) { group in
                for index in 0..<clients {
                    group.addTask { await fleet.supervise(index) }
                }
                group.addTask {
                    while !(await fleet.isStopping) {
                        try? await Task.sleep(for: .seconds(1))
                        await fleet.checkForHangs()
                    }
                }
                group.addTask { await reportProgress(fleet, tally, start: start, end: start + duration) }
                group.addTask { await sampler.run(every: .milliseconds(250)) }
                let interruption = await Self.runUntilSignalled(nemesis, signals)
                if let interruption {
                    Console.out("verify: \(signalName(interruption)) after \((ContinuousClock.now - start).components.seconds)s: "
                        + "faults healed, stopping the clients; checking what ran")
                    interrupted.withLock { $0 = interruption }
                }
                mesh?.healAll()
                await stop(fleet)
                await replicas?.stopAll()
                group.cancelAll()
            }
            for problem in await replicas?.problems ?? [] { await tally.problem(problem) }
            Console.out("verify: clients stopped; waiting for expired sessions to clear, then reading etcd's history")
            let reader = FinalStateReader(client: client, startRevision: startRevision, recipe: recipe)
            let leftovers = await reader.leftovers(
                lockPrefixes: lockPrefixes, leases: fleet.log.leases, within: ttl * 2 + .seconds(15))
            let events = fleet.log.events
            var records: [VerificationRecord] = []
            let pauses = await fleet.pauses
            let faults = await tally.faults
            let exits = await fleet.exits
            let samples = sampler.samples
            for lock in 0..<locks {
                let (finalCount, writes) = try await reader.registerHistory(register: registers[lock], lockPrefix: lockPrefixes[lock])
                let lockEvents = events.filter { $0.lock == lock || $0.step.concernsEveryLock }
                // Clean-up, exits and hangs concern the whole run: they go with the first lock.
                var record = VerificationRecord(
                    events: lockEvents, registerWrites: writes, finalCount: finalCount, pauses: pauses,
                    limits: Self.operationLimits)
                record.lock = lock
                record.recipe = recipe
                record.readHolders = try await reader.readHolders(of: lockEvents, lockPrefix: lockPrefixes[lock])
                record.samples = samples.filter { $0.lock == lock }
                record.faults = faults
                record.exits = exits
                record.liveness = livenessRules
                record.origin = origin
                if lock == 0 {
                    record.leftoverKeys = leftovers.keys
                    record.leftoverLeases = leftovers.leases
                    record.unexpectedExits = await fleet.unexpectedExits
                    record.hangs = await fleet.hangs
                }
                records.append(record)
            }
            let outcomes = HistoryChecker.check(locks: records)
            await report(outcomes, events: events, tally: tally)
            let failed = outcomes.filter { !$0.passed }.count
            // Checks of a run in which nobody ever held the lock pass vacuously: that proves nothing.
            let acquisitions = events.filter { if case .acquired = $0.step { true } else { false } }.count
            try writeHistory(events, failed: failed > 0 || acquisitions == 0)
            _ = try? await client.delete(.prefix("/etcdlock-verify/\(run)/"))
            Console.out("verdict: \(outcomes.count - failed) passed, \(failed) failed")
            guard acquisitions > 0 else {
                Console.out("verify: FAIL no client ever acquired a lock: the checks had nothing to check")
                return .failure
            }
            if failed == 0, let number = interrupted.withLock({ $0 }) { return ExitStatus(code: 128 + number) }
            return failed == 0 ? .success : .failure
        }
    }

    /// Runs the nemesis to the end of the run or to the first stopping signal, whichever comes
    /// first; a signal cuts it short (it heals the fault in hand before it returns). The signal,
    /// if one came.
    private static func runUntilSignalled(_ nemesis: Nemesis, _ signals: TerminationSignals) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask {
                await nemesis.run()
                return nil
            }
            group.addTask { await signals.wait() }
            let first = await group.next() ?? nil
            group.cancelAll()
            await group.waitForAll()
            return first
        }
    }

    /// The clients' `lock()` timeout.
    static let lockTimeout = Duration.seconds(8)

    /// How long a client operation may take: a `lock()` its timeout plus a withdrawal (one
    /// request timeout), a fenced write one request timeout; each with 3 s of slack for a loaded
    /// machine. Operations that span a pause of their client are exempt.
    static let operationLimits = OperationLimits(
        lock: lockTimeout + .seconds(5) + .seconds(3), write: .seconds(5) + .seconds(3))

    /// How long the liveness checks allow: a key outlives its dead or frozen owner by the TTL;
    /// recovering from a fault takes an election (1 s) plus a client noticing a silent member
    /// (3 s probe interval, 2 s probe timeout); a failed `lock()`'s withdrawal may be retried
    /// for a request timeout (5 s) past a link fault's longest hold (2.5 s).
    private var livenessRules: LivenessRules {
        LivenessRules(ttl: ttl, recovery: .seconds(6), margin: .seconds(2), withdrawalGrace: .seconds(10))
    }

    private func startClient(
        _ index: Int, incarnation: Int, endpoints: [String], serviceURLs: [String], lockName: String, register: EtcdKey,
        fleet: ClientFleet
    ) throws -> ChildProcess {
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        var arguments: [String] = [
            executable, "verify-client", "--endpoints", endpoints.joined(separator: ","), "--lock", lockName,
            "--register", register.description, "--client", String(index), "--incarnation", String(incarnation),
            "--ttl", ttlText, "--locks", String(locks), "--lockers", String(lockersPerClient),
            "--lock-timeout", String(Self.lockTimeout.components.seconds), "--recipe", recipe.option,
        ]
        if unfenced { arguments.append("--unfenced") }
        if recipe.isSemaphore { arguments += ["--permits", String(recipe.capacity)] }
        if !serviceURLs.isEmpty { arguments += ["--service", serviceURLs.joined(separator: ",")] }
        let log = fleet.log
        return try ChildProcess(command: arguments, environment: [:]) { line in
            log.record(client: index, incarnation: incarnation, line: line)
        }
    }

    /// Tells every client to stop and waits for them (SIGKILL after a grace period, counted as a hang).
    private func stop(_ fleet: ClientFleet) async {
        await fleet.stopAll()
        let grace = Duration.seconds(15)
        let deadline = ContinuousClock.now + grace
        while !(await fleet.allExited), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(50))
        }
        await fleet.killStragglers(after: grace)
        while !(await fleet.allExited) {
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// A line every 30 seconds so a long run shows it is alive.
    private func reportProgress(_ fleet: ClientFleet, _ tally: FaultTally, start: ContinuousClock.Instant, end: ContinuousClock.Instant) async {
        var next = start + .seconds(30)
        while next < end {
            try? await Task.sleep(until: next)
            let summary = HistorySummary(fleet.log.events)
            Console.out(
                "progress \((next - start).components.seconds)s: \(await tally.total) faults, "
                    + "\(summary.writesAccepted) writes accepted, \(summary.writesRejected) rejected by fencing")
            next += .seconds(30)
        }
    }
}
