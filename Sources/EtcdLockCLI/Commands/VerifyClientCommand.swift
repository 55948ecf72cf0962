import Etcd
import EtcdLock
import Foundation
import LockVerification
import Synchronization

/// `etcdlock verify-client`: one client process of `etcdlock verify` (not listed in the help).
///
/// Loops until SIGTERM: lock, read the register, work, write the register back with a fenced
/// write, unlock. With `--locks N` there are N locks (`NAME-0` …) and registers (`KEY-0` …);
/// with `--lockers L`, L tasks share the process's client and session, each picking a lock at
/// random each turn (so concurrent operations travel together through txn coalescing). It uses plain `lock()`/`unlock()` on purpose: a client paused mid-work still
/// sends its write when it resumes, and fencing is what must reject it. Prints each step as a
/// history line (``HistoryEvent/line(_:at:)``) for the coordinator.
struct VerifyClientCommand: Command {
    static let name = "verify-client"
    static let abstract = "one client of etcdlock verify"
    static let usage = """
        Usage: etcdlock verify-client --endpoints URLS --lock NAME --register KEY --client I --incarnation K
                                      [--locks N] [--lockers L] [--ttl S] [--work-ms MS] [--lock-timeout S] [--unfenced]
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
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "2", option: "--ttl")
        maximumWork = max(1, Int(try arguments.option("--work-ms") ?? "100") ?? 100)
        lockTimeout = try parseSeconds(try arguments.option("--lock-timeout") ?? "8", option: "--lock-timeout")
        unfenced = arguments.flag("--unfenced")
    }

    func run() async throws -> ExitStatus {
        let signals = TerminationSignals()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop() }
            group.addTask { _ = await signals.wait() }
            await group.next()
            group.cancelAll()
        }
        emit(.stopped)
        return .success
    }

    private func emit(_ step: ClientStep, lock: Int = 0, locker: Int = 0) {
        Console.out(HistoryEvent.line(step, lock: lock, locker: locker))
    }

    /// Emits `error` as a history step: its code if typed, an untyped-error step otherwise.
    private func emitFailure(_ error: any Error, lock: Int = 0, locker: Int = 0) {
        if let code = typedCode(error) {
            emit(.error(code: code), lock: lock, locker: locker)
        } else {
            let message = "\(type(of: error)): \(error)".replacingOccurrences(of: "\n", with: " ")
            emit(.untypedError(message: message), lock: lock, locker: locker)
        }
    }

    private func typedCode(_ error: any Error) -> String? {
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
                            let mutexes = try lockNames.map { try EtcdMutex($0, session: session) }
                            try await withThrowingTaskGroup(of: Void.self) { group in
                                for locker in 0..<lockers {
                                    group.addTask {
                                        while session.isValid, !Task.isCancelled {
                                            let lock = Int.random(in: 0..<mutexes.count)
                                            let operation = operations.next()
                                            try await holdOnce(
                                                mutexes[lock], lock: lock, locker: locker, client: client, operation: operation)
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

    /// One turn: lock, read, work, fenced write, unlock. Typed failures are history steps;
    /// the session's loss ends the turn.
    private func holdOnce(
        _ mutex: EtcdMutex, lock index: Int, locker: Int, client: EtcdClient, operation number: Int
    ) async throws {
        let register = registers[index]
        func emit(_ step: ClientStep) { self.emit(step, lock: index, locker: locker) }
        emit(.lockStart)
        let lock: LockGuard
        do {
            lock = try await mutex.lock(timeout: lockTimeout)
        } catch {
            guard let code = typedCode(error) else { throw error }
            emit(.lockFailed(code: code))
            return
        }
        let token = lock.token.rawValue
        emit(.acquired(token: token))
        do {
            let current = try await client.range(RangeRequest(.key(register)))
            let count = current.keyValues.first.flatMap { RegisterValue(parsing: $0.valueString)?.count } ?? 0
            emit(.read(token: token, value: count))
            try await Task.sleep(for: .milliseconds(Int.random(in: maximumWork / 5...maximumWork)))  // the work a pause can interrupt
            let operation = operationPrefix + String(number)
            let value = RegisterValue(count: count + 1, token: token, operation: operation)
            emit(.writeStart(token: token, value: value.count, operation: operation))
            do {
                let write = Txn(then: [.put(register, value: Array(value.text.utf8))])
                if unfenced {
                    _ = try await client.txn(write)
                } else {
                    try await mutex.fenced(lock, write)
                }
                emit(.writeAccepted(token: token, operation: operation))
            } catch let error as LockError where error.code == .ownershipLost {
                emit(.writeRejected(token: token, operation: operation))
            } catch let error as EtcdError {
                emit(
                    error.mayHaveBeenApplied
                        ? .writeUnknown(token: token, operation: operation, code: "\(error.code)")
                        : .writeFailed(token: token, operation: operation, code: "\(error.code)"))
            }
        } catch {
            guard typedCode(error) != nil || error is CancellationError else { throw error }
            if !(error is CancellationError) { emitFailure(error, lock: index, locker: locker) }
        }
        let command = self
        let released = await mutex.unlockUntilDone(lock) { error in
            command.emit(.releaseFailed(token: token, code: command.typedCode(error) ?? "untyped"), lock: index, locker: locker)
        }
        if released { emit(.released(token: token)) }
    }
}

/// Numbers the operations of one client process, across its lockers.
private final class OperationNumbers: Sendable {
    private let last = Atomic<Int>(0)
    func next() -> Int { last.wrappingAdd(1, ordering: .relaxed).newValue }
}
