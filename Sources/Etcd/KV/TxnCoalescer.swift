import Synchronization

/// Sends independent conditional transactions together when several are waiting.
///
/// Up to `maximumInFlight` coalescible transactions go out at once, each alone, so an idle
/// client adds no latency. Transactions submitted while that many are in flight wait, and the
/// next to go carries every compatible one that waited as one merged transaction: all their
/// compares, all their success operations. If the merged compare holds, each caller gets its
/// share of the responses, as if its transaction had run alone. If it fails, each transaction
/// is sent again alone, so callers see exactly the semantics of single transactions.
///
/// Two transactions are compatible when they are in different groups (callers put those whose
/// relative order matters, such as two keys of one lock queue, in one group) and neither writes
/// a key the other compares (alone or in a compared range) or writes. A merged transaction stays within etcd's limit
/// of operations per transaction, and is retried after an ambiguous failure only if every
/// member allows it; otherwise members that allow retries are sent again alone.
final class TxnCoalescer: Sendable {
    /// What a waiting transaction is told to do when its turn comes.
    private enum Turn: Sendable {
        /// Send these (the first is the receiver's own) and hand the others their results.
        case lead([Member])
        /// Another caller sent it; here is the outcome.
        case finished(Result<TxnResult, any Error>)
    }

    /// One submitted transaction.
    private struct Member: Sendable {
        var id: UInt64
        var txn: Txn
        var group: String
        var retry: EtcdClient.RetryRule
        var deadline: ContinuousClock.Instant
        var writes: Set<EtcdKey>
        var compared: Set<EtcdKey>
        var comparedRanges: [KeyRange]
        var continuation: CheckedContinuation<Turn, any Error>?
    }

    private struct State {
        var inFlight = 0
        var waiting: [Member] = []
        var nextID: UInt64 = 0
    }

    private let state = Mutex(State())
    private let maximumInFlight: Int
    private let maximumOperations: Int

    /// How many txns wait for a turn (for tests and diagnostics).
    var waitingCount: Int { state.withLock { $0.waiting.count } }

    init(maximumInFlight: Int, maximumOperations: Int) {
        self.maximumInFlight = max(1, maximumInFlight)
        self.maximumOperations = max(2, maximumOperations)
    }

    /// The keys `txn` writes, and the keys and ranges it compares, or `nil` when it cannot be
    /// merged safely (range writes or nested transactions in its success branch).
    static func footprint(of txn: Txn) -> (writes: Set<EtcdKey>, compared: Set<EtcdKey>, comparedRanges: [KeyRange])? {
        var writes: Set<EtcdKey> = []
        var compared: Set<EtcdKey> = []
        var comparedRanges: [KeyRange] = []
        for compare in txn.compares {
            if compare.keys.end == nil {
                compared.insert(compare.keys.key)
            } else {
                comparedRanges.append(compare.keys)
            }
        }
        for operation in txn.success {
            switch operation {
            case .range: continue
            case .put(let put):
                guard writes.insert(put.key).inserted else { return nil }
            case .delete(let delete):
                guard delete.keys.end == nil, writes.insert(delete.keys.key).inserted else { return nil }
            case .txn: return nil
            }
        }
        return (writes, compared, comparedRanges)
    }

    /// Sends `txn` through `send` (one gateway call), alone or merged with others.
    func submit(
        _ txn: Txn, group: String, retry: EtcdClient.RetryRule, deadline: ContinuousClock.Instant,
        send: @escaping @Sendable (Txn, EtcdClient.RetryRule, ContinuousClock.Instant) async throws -> TxnResult
    ) async throws -> TxnResult {
        guard let footprint = Self.footprint(of: txn), txn.success.count <= maximumOperations,
            txn.compares.count <= maximumOperations
        else {
            return try await send(txn, retry, deadline)
        }
        var member = Member(
            id: 0, txn: txn, group: group, retry: retry, deadline: deadline, writes: footprint.writes,
            compared: footprint.compared, comparedRanges: footprint.comparedRanges)
        let sendAlone = state.withLock { state -> Bool in
            member.id = state.nextID
            state.nextID += 1
            guard state.inFlight >= maximumInFlight else {
                state.inFlight += 1
                return true
            }
            return false
        }
        if sendAlone {
            return try await lead([member], send: send)
        }
        let id = member.id
        let turn = try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Turn, any Error>) in
                member.continuation = continuation
                let cancelledAlready = state.withLock { state -> Bool in
                    if Task.isCancelled { return true }
                    state.waiting.append(member)
                    return false
                }
                if cancelledAlready {
                    continuation.resume(throwing: EtcdError(code: .cancelled, message: "the txn was cancelled before it was sent"))
                }
            }
        } onCancel: {
            let removed = state.withLock { state -> Member? in
                guard let index = state.waiting.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiting.remove(at: index)
            }
            removed?.continuation?.resume(
                throwing: EtcdError(code: .cancelled, message: "the txn was cancelled before it was sent"))
        }
        switch turn {
        case .finished(let result): return try result.get()
        case .lead(let batch): return try await lead(batch, send: send)
        }
    }

    /// Sends `batch` (its first member is the caller's), hands the other members their results,
    /// then passes the turn to whoever waits.
    private func lead(
        _ batch: [Member], send: @escaping @Sendable (Txn, EtcdClient.RetryRule, ContinuousClock.Instant) async throws -> TxnResult
    ) async throws -> TxnResult {
        let results = await Self.send(batch, send: send)
        passTurn()
        for (member, result) in zip(batch.dropFirst(), results.dropFirst()) {
            member.continuation?.resume(returning: .finished(result))
        }
        return try results[0].get()
    }

    /// One call for a batch of one; otherwise the merged transaction, falling back to one call
    /// per member (concurrently) when its compare fails.
    private static func send(
        _ batch: [Member], send: @escaping @Sendable (Txn, EtcdClient.RetryRule, ContinuousClock.Instant) async throws -> TxnResult
    ) async -> [Result<TxnResult, any Error>] {
        guard batch.count > 1 else {
            return [await Result { try await send(batch[0].txn, batch[0].retry, batch[0].deadline) }]
        }
        // Not cancelled with the leading caller's task: the other members were not cancelled,
        // and must get the outcome they would get alone.
        return await Task { await sendMerged(batch, send: send) }.value
    }

    private static func sendMerged(
        _ batch: [Member], send: @escaping @Sendable (Txn, EtcdClient.RetryRule, ContinuousClock.Instant) async throws -> TxnResult
    ) async -> [Result<TxnResult, any Error>] {
        // A member whose deadline passed while it waited is answered at once, unsent, rather than
        // shrinking the merged call's deadline to nothing.
        let now = ContinuousClock.now
        let expired = batch.indices.filter { batch[$0].deadline <= now + .milliseconds(5) }
        if !expired.isEmpty {
            let live = batch.indices.filter { !expired.contains($0) }
            var results = [Result<TxnResult, any Error>](
                repeating: .failure(
                    EtcdError(code: .timeout, message: "the txn's deadline passed before it could be sent")),
                count: batch.count)
            guard !live.isEmpty else { return results }
            let liveResults = live.count == 1
                ? [await Result(catching: { try await send(batch[live[0]].txn, batch[live[0]].retry, batch[live[0]].deadline) })]
                : await sendMerged(live.map { batch[$0] }, send: send)
            for (index, result) in zip(live, liveResults) { results[index] = result }
            return results
        }
        // The earliest member deadline bounds the merged call (no member waits past its own).
        let deadline = batch.map(\.deadline).min()!
        let merged = Txn(if: batch.flatMap(\.txn.compares), then: batch.flatMap(\.txn.success))
        // Retried after an ambiguous failure only if every member may be applied twice.
        let retry: EtcdClient.RetryRule = batch.allSatisfy { $0.retry == .idempotent } ? .idempotent : .onlyIfNotSent
        switch await Result(catching: { try await send(merged, retry, deadline) }) {
        case .failure(let error as EtcdError) where !error.mayHaveBeenApplied:
            // Definitely not applied (one member's lease was gone, no leader …): the error may
            // concern one member only, so every member gets its own attempt, as it would alone.
            return await eachAlone(batch, otherwise: error, send: send) { member in
                ContinuousClock.now < member.deadline
            }
        case .failure(let error):
            // Possibly applied: members that may be sent twice, and still have time, get their own
            // attempt; whatever that attempt says, the merged one may have landed them, so their
            // failures stay marked as possibly applied. The others get the merged call's error.
            let results = await eachAlone(batch, otherwise: error, send: send) { member in
                member.retry == .idempotent && ContinuousClock.now < member.deadline
            }
            return results.map { result in
                guard case .failure(var failure as EtcdError) = result else { return result }
                failure.mayHaveBeenApplied = true
                return .failure(failure)
            }
        case .success(let result) where result.succeeded:
            var results: [Result<TxnResult, any Error>] = []
            var offset = 0
            for member in batch {
                let count = member.txn.success.count
                let share = Array(result.responses[offset..<min(offset + count, result.responses.count)])
                offset += count
                results.append(.success(TxnResult(header: result.header, succeeded: true, responses: share)))
            }
            return results
        case .success:
            // Some compare failed: each alone, with its own else branch.
            return await eachAlone(batch, otherwise: CancellationError(), send: send) { _ in true }
        }
    }

    /// Sends the members that `qualifies` accepts alone, concurrently; the others get `otherwise`.
    private static func eachAlone(
        _ batch: [Member], otherwise failure: any Error,
        send: @escaping @Sendable (Txn, EtcdClient.RetryRule, ContinuousClock.Instant) async throws -> TxnResult,
        qualifies: (Member) -> Bool
    ) async -> [Result<TxnResult, any Error>] {
        await withTaskGroup(of: (Int, Result<TxnResult, any Error>).self) { group in
            for (index, member) in batch.enumerated() where qualifies(member) {
                group.addTask { (index, await Result { try await send(member.txn, member.retry, member.deadline) }) }
            }
            var results = [Result<TxnResult, any Error>](repeating: .failure(failure), count: batch.count)
            for await (index, result) in group { results[index] = result }
            return results
        }
    }

    /// Ends one send: the next batch of compatible waiters, if any, goes to its first member.
    private func passTurn() {
        let next = state.withLock { state -> [Member]? in
            guard !state.waiting.isEmpty else {
                state.inFlight -= 1
                return nil
            }
            var batch: [Member] = []
            var groups: Set<String> = []
            var writes: Set<EtcdKey> = []
            var compared: Set<EtcdKey> = []
            var comparedRanges: [KeyRange] = []
            var operations = 0
            var compares = 0
            var remaining: [Member] = []
            for member in state.waiting {
                let fits = batch.isEmpty
                    || (!groups.contains(member.group)
                        && member.writes.isDisjoint(with: writes) && member.writes.isDisjoint(with: compared)
                        && member.compared.isDisjoint(with: writes)
                        && !member.writes.contains { key in comparedRanges.contains { $0.contains(key) } }
                        && !writes.contains { key in member.comparedRanges.contains { $0.contains(key) } }
                        && operations + member.txn.success.count <= maximumOperations
                        && compares + member.txn.compares.count <= maximumOperations)
                guard fits else {
                    remaining.append(member)
                    continue
                }
                batch.append(member)
                groups.insert(member.group)
                writes.formUnion(member.writes)
                compared.formUnion(member.compared)
                comparedRanges += member.comparedRanges
                operations += member.txn.success.count
                compares += member.txn.compares.count
            }
            state.waiting = remaining
            return batch
        }
        guard let next, let leader = next.first else { return }
        leader.continuation?.resume(returning: .lead(next))
    }
}

extension Result where Failure == any Error {
    /// The result of `body`.
    init(catching body: () async throws -> Success) async {
        do {
            self = .success(try await body())
        } catch {
            self = .failure(error)
        }
    }
}
