import Etcd
import EtcdLock
import LockVerification

/// The turns a verification client takes, one kind per recipe, each leaving in etcd's history
/// the evidence its checks need.
extension VerifyClientCommand {
    /// One turn on `lock`:
    /// - mutex: lock, read the register, work, write it back incremented with a fenced write, unlock;
    /// - read/write lock: one turn in three the same under the write hold; otherwise a read hold
    ///   with two fenced reads of the register (a txn whose compare is the reader key's create
    ///   revision) with work between them, proving at both revisions that the reader held;
    /// - semaphore: acquire a permit, a fenced write to the register on entering (mark 1), work,
    ///   another before leaving (mark 2), release.
    ///
    /// Typed failures are history steps; the session's loss ends the turn.
    func turn(_ lock: VerifiedLock, lock index: Int, locker: Int, client: EtcdClient, operations: OperationNumbers) async throws {
        let register = registers[index]
        let steps = Steps(command: self, lock: index, locker: locker)
        switch lock {
        case .mutex:
            try await hold(lock, .exclusive, steps) { hold in
                try await increment(register, token: hold.token, fence: lock.fence(hold), client: client, operation: operations.next(), steps)
            }
        case .readWriteLock where Int.random(in: 0..<3) == 0:
            try await hold(lock, .write, steps) { hold in
                try await increment(register, token: hold.token, fence: lock.fence(hold), client: client, operation: operations.next(), steps)
            }
        case .readWriteLock:
            try await hold(lock, .read, steps) { hold in
                guard try await fencedRead(register, under: hold, client: client, steps) else { return }
                try await work()
                _ = try await fencedRead(register, under: hold, client: client, steps)
            }
        case .semaphore:
            try await hold(lock, .permit, steps) { hold in
                let token = hold.token.rawValue
                let entered = RegisterValue(count: 1, token: token, operation: operationPrefix + String(operations.next()))
                guard try await fencedWrite(entered, to: register, fence: lock.fence(hold), client: client, steps) else { return }
                try await work()
                let leaving = RegisterValue(count: 2, token: token, operation: operationPrefix + String(operations.next()))
                _ = try await fencedWrite(leaving, to: register, fence: lock.fence(hold), client: client, steps)
            }
        }
    }

    /// Runs a write only while its holder holds (throwing ``LockError`` `.ownershipLost` when not).
    typealias Fence = @Sendable (Txn) async throws -> Void

    /// Prints one locker's steps on one lock.
    struct Steps: Sendable {
        let command: VerifyClientCommand
        let lock: Int
        let locker: Int

        func callAsFunction(_ step: ClientStep) { command.emit(step, lock: lock, locker: locker) }
    }

    /// Acquires a `mode` hold on `lock`, runs `body` under it, releases it. It uses plain
    /// acquire and release on purpose: a client paused mid-work still sends its requests when it
    /// resumes, and fencing is what must reject them.
    private func hold(
        _ lock: VerifiedLock, _ mode: LockMode, _ emit: Steps, _ body: (LockGuard) async throws -> Void
    ) async throws {
        emit(.lockStart)
        let hold: LockGuard
        do {
            hold = try await lock.acquire(mode, timeout: lockTimeout)
        } catch {
            guard let code = typedCode(error) else { throw error }
            emit(.lockFailed(code: code))
            return
        }
        let token = hold.token.rawValue
        emit(.acquired(token: token))
        do {
            try await body(hold)
        } catch {
            guard typedCode(error) != nil || error is CancellationError else { throw error }
            if !(error is CancellationError) { emitFailure(error, lock: emit.lock, locker: emit.locker) }
        }
        let released = await lock.releaseUntilDone(hold) { error in
            emit(.releaseFailed(token: token, code: emit.command.typedCode(error) ?? "untyped"))
        }
        if released { emit(.released(token: token)) }
    }

    /// The work a pause can interrupt.
    func work() async throws {
        try await Task.sleep(for: .milliseconds(Int.random(in: maximumWork / 5...maximumWork)))
    }

    /// Reads the register, works, writes it back incremented with a write fenced by `fence`.
    func increment(
        _ register: EtcdKey, token holdToken: FencingToken, fence: Fence, client: EtcdClient, operation number: Int,
        _ emit: Steps
    ) async throws {
        let token = holdToken.rawValue
        let current = try await client.range(RangeRequest(.key(register)))
        let count = current.keyValues.first.flatMap { RegisterValue(parsing: $0.valueString)?.count } ?? 0
        emit(.read(token: token, value: count))
        try await work()
        let value = RegisterValue(count: count + 1, token: token, operation: operationPrefix + String(number))
        _ = try await fencedWrite(value, to: register, fence: fence, client: client, emit)
    }

    /// Writes `value` to `register` through `fence` (without fencing with `--unfenced`);
    /// whether etcd acknowledged it.
    private func fencedWrite(
        _ value: RegisterValue, to register: EtcdKey, fence: Fence, client: EtcdClient, _ emit: Steps
    ) async throws -> Bool {
        let token = value.token
        let operation = value.operation
        emit(.writeStart(token: token, value: value.count, operation: operation))
        do {
            let write = Txn(then: [.put(register, value: Array(value.text.utf8))])
            if unfenced {
                _ = try await client.txn(write)
            } else {
                try await fence(write)
            }
            emit(.writeAccepted(token: token, operation: operation))
            return true
        } catch let error as LockError where error.code == .ownershipLost {
            emit(.writeRejected(token: token, operation: operation))
        } catch let error as EtcdError {
            emit(
                error.mayHaveBeenApplied
                    ? .writeUnknown(token: token, operation: operation, code: "\(error.code)")
                    : .writeFailed(token: token, operation: operation, code: "\(error.code)"))
        }
        return false
    }

    /// Reads `register` in a txn whose compare is the reader key's create revision (no compare
    /// with `--unfenced`): an answer proves the reader held at the answer's revision. Whether
    /// etcd answered.
    private func fencedRead(_ register: EtcdKey, under hold: LockGuard, client: EtcdClient, _ emit: Steps) async throws -> Bool {
        let token = hold.token.rawValue
        let ownership: [Txn.Compare] = unfenced ? [] : [.createRevision(of: hold.key, .equal, hold.token.revision)]
        emit(.readSent(token: token))
        // A read changes nothing: sending it again after a lost answer is harmless.
        let result = try await client.txn(Txn(if: ownership, then: [.range(RangeRequest(.key(register)))]), retry: .idempotent)
        guard result.succeeded, case .range(let range) = result.responses.first else {
            emit(.readRejected(token: token))
            return false
        }
        let count = range.keyValues.first.map { RegisterValue(parsing: $0.valueString)?.count ?? -1 } ?? 0
        emit(.readAccepted(token: token, value: count, revision: result.header.revision.rawValue))
        return true
    }
}
