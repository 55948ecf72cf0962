import Etcd
import EtcdLock
import Foundation
import LockVerification
import Synchronization

/// `etcdlock verify-client`: one client process of `etcdlock verify` (not listed in the help).
///
/// Loops until SIGTERM taking turns of the recipe under test (`--recipe`, see
/// ``turn(_:lock:locker:client:operations:)``): for a mutex, lock, read the register, work,
/// write it back with a fenced write, unlock. With `--locks N` there are N locks (`NAME-0` …)
/// and registers (`KEY-0` …); with `--lockers L`, L tasks share the process's client and
/// session, each picking a lock at random each turn (so concurrent operations travel together
/// through txn coalescing). It uses plain acquire and release on purpose: a client paused
/// mid-work still sends its write when it resumes, and fencing is what must reject it. Prints
/// each step as a history line (``HistoryEvent/line(_:at:)``) for the coordinator.
struct VerifyClientCommand: Command {
    static let name = "verify-client"
    static let abstract = "one client of etcdlock verify"
    static let usage = """
        Usage: etcdlock verify-client --endpoints URLS --lock NAME --register KEY --client I --incarnation K
                                      [--locks N] [--lockers L] [--ttl S] [--work-ms MS] [--lock-timeout S] [--unfenced]
                                      [--recipe mutex|rwlock|semaphore] [--permits N] [--service URLS]
        """

    let connection: ConnectionOptions
    let lockNames: [String]
    let registers: [EtcdKey]
    let lockers: Int
    let operationPrefix: String
    let ttl: Duration
    let maximumWork: Int
    let lockTimeout: Duration
    /// Writes without the token compare: the verifier's self-test of its checker.
    let unfenced: Bool
    /// The recipe whose locks the turns take.
    let recipe: VerifiedRecipe
    /// This process: its slot and incarnation.
    let process: ClientProcess
    /// With `--service`: the lock service replicas the mutex is taken through.
    let serviceURLs: [String]

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        guard let lockName = try arguments.option("--lock"), let register = try arguments.option("--register") else {
            throw UsageError(description: "--lock and --register are required")
        }
        guard let locks = Int(try arguments.option("--locks") ?? "1"), (1...64).contains(locks),
            let lockers = Int(try arguments.option("--lockers") ?? "1"), (1...64).contains(lockers)
        else { throw UsageError(description: "--locks and --lockers must be from 1 to 64") }
        lockNames = (0..<locks).map { "\(lockName)-\($0)" }
        registers = (0..<locks).map { EtcdKey("\(register)-\($0)") }
        self.lockers = lockers
        guard let client = Int(try arguments.option("--client") ?? ""), let incarnation = Int(try arguments.option("--incarnation") ?? "")
        else { throw UsageError(description: "--client and --incarnation must be numbers") }
        operationPrefix = "c\(client).\(incarnation)."
        process = ClientProcess(client: client, incarnation: incarnation)
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "2", option: "--ttl")
        maximumWork = max(1, Int(try arguments.option("--work-ms") ?? "100") ?? 100)
        lockTimeout = try parseSeconds(try arguments.option("--lock-timeout") ?? "8", option: "--lock-timeout")
        unfenced = arguments.flag("--unfenced")
        recipe = try parseRecipe(&arguments)
        serviceURLs = try arguments.option("--service")?.split(separator: ",").map(String.init) ?? []
        if !serviceURLs.isEmpty, recipe != .mutex { throw UsageError(description: "--service takes the mutex only") }
    }

    func run() async throws -> ExitStatus {
        let signals = TerminationSignals()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await serviceURLs.isEmpty ? loop() : serviceLoop() }
            group.addTask { _ = await signals.wait() }
            await group.next()
            group.cancelAll()
        }
        emit(.stopped)
        return .success
    }

    func emit(_ step: ClientStep, lock: Int = 0, locker: Int = 0) {
        Console.out(HistoryEvent.line(step, lock: lock, locker: locker))
    }

    /// Emits `error` as a history step: its code if typed, an untyped-error step otherwise.
    func emitFailure(_ error: any Error, lock: Int = 0, locker: Int = 0) {
        if let code = typedCode(error) {
            emit(.error(code: code), lock: lock, locker: locker)
        } else {
            let message = "\(type(of: error)): \(error)".replacingOccurrences(of: "\n", with: " ")
            emit(.untypedError(message: message), lock: lock, locker: locker)
        }
    }

    func typedCode(_ error: any Error) -> String? {
        if let error = error as? EtcdError { return "\(error.code)" }
        if let error = error as? LockError { return "\(error.code)" }
        return nil
    }

    private func loop() async {
        let operations = OperationNumbers()
        do {
            try await EtcdClient.withClient(connection.configuration) { client in
                while !Task.isCancelled {
                    do {
                        // A lost session (after a pause) is replaced by a new one: a new life, new tokens.
                        try await EtcdSession.withSession(client, ttl: ttl) { session in
                            emit(.session(lease: session.lease.rawValue))
                            let locks = try lockNames.map { try VerifiedLock(recipe, name: $0, session: session) }
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                for locker in 0..<lockers {
                                    group.addTask {
                                        while session.isValid, !Task.isCancelled {
                                            let lock = Int.random(in: 0..<locks.count)
                                            try await turn(locks[lock], lock: lock, locker: locker, client: client, operations: operations)
                                        }
                                    }
                                }
                                try await group.waitForAll()
                            }
                        }
                    } catch {
                        if Task.isCancelled { return }
                        emitFailure(error)
                        // Unavailable cluster: try again soon, not in a tight loop.
                        try await Task.sleep(for: .milliseconds(200))
                    }
                }
            }
        } catch {
            if !Task.isCancelled { emitFailure(error) }
        }
    }
}

extension VerifyClientCommand {
    /// The loop with `--service`: each locker takes turns through the replicas; there is no
    /// session (each acquire's lease is the service's, then the holder's to renew).
    fileprivate func serviceLoop() async {
        let operations = OperationNumbers()
        do {
            try await EtcdClient.withClient(connection.configuration) { client in
                try await EtcdClient.withClient(EtcdClient.Configuration(endpoints: serviceURLs)) { service in
                    let replicas = ServiceReplicas(client: service, count: serviceURLs.count)
                    await withTaskGroup(of: Void.self) { group in
                        for locker in 0..<lockers {
                            group.addTask {
                                // Attempts numbered per lock, as each lock's history numbers them.
                                var sequences = [Int](repeating: 0, count: lockNames.count)
                                while !Task.isCancelled {
                                    let lock = Int.random(in: 0..<lockNames.count)
                                    do {
                                        try await serviceTurn(
                                            lock: lock, locker: locker, sequence: sequences[lock], replicas: replicas, client: client,
                                            operations: operations)
                                    } catch {
                                        if Task.isCancelled { return }
                                        emitFailure(error, lock: lock, locker: locker)
                                    }
                                    sequences[lock] += 1
                                }
                            }
                        }
                    }
                }
            }
        } catch {
            if !Task.isCancelled { emitFailure(error) }
        }
    }
}

/// Numbers the operations of one client process, across its lockers.
final class OperationNumbers: Sendable {
    private let last = Atomic<Int>(0)
    func next() -> Int { last.wrappingAdd(1, ordering: .relaxed).newValue }
}
