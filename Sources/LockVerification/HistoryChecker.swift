/// Checks a verification run's histories and final state against the lock's guarantees.
///
/// A check passes only if nothing in the record contradicts it; each violation names the
/// operations involved so the history file can be searched for them.
public enum HistoryChecker {
    /// The most violations listed per check (all are counted).
    static let listedViolations = 10

    /// Runs every check on a run with several locks, one record each (events, register and
    /// final state of that lock; clean-up, exits and hangs may sit in any one of them), and
    /// merges the outcomes check by check.
    public static func check(locks records: [VerificationRecord]) -> [CheckOutcome] {
        guard records.count > 1 else { return records.first.map(check) ?? [] }
        let perLock = records.map(check)
        return perLock[0].indices.map { position in
            let outcomes = perLock.map { $0[position] }
            let violations = outcomes.enumerated().flatMap { lock, outcome in outcome.violations.map { "lock \(lock): \($0)" } }
            return CheckOutcome(
                name: outcomes[0].name, violations: Array(violations.prefix(listedViolations)),
                violationCount: outcomes.map(\.violationCount).reduce(0, +),
                detail: outcomes.enumerated().map { "lock \($0.offset): \($0.element.detail)" }.joined(separator: "; "))
        }
    }

    /// Runs every check of the record's recipe: its safety checks, then the clean-up, client
    /// and liveness checks every recipe shares.
    public static func check(_ record: VerificationRecord) -> [CheckOutcome] {
        let index = HistoryIndex(record.events)
        let timeline = ClientTimeline(events: record.events, exits: record.exits, pauses: record.pauses)
        let safety: [CheckOutcome]
        switch record.recipe {
        case .mutex:
            safety = [
                registerMatchesIncrements(record),
                outcomesMatchHistory(record, index),
                tokensIncrease(record),
                writerHeldLock(record),
                criticalSectionsDisjoint(record, index),
            ]
        case .readWriteLock:
            safety = [
                registerMatchesIncrements(record),
                outcomesMatchHistory(record, index),
                tokensIncrease(record),
                writerHeldLock(record),
                readersHeldLock(record, index),
                readsSawNoWrite(record, index),
                writeSectionsExclusive(record, index),
            ]
        case .semaphore(let permits):
            safety = [
                outcomesMatchHistory(record, index),
                writerHeldLock(record),
                permitIntervalsWithinPermits(record, permits: permits),
                permitSectionsWithinPermits(record, index, permits: permits),
            ]
        }
        return safety + [
            nothingLeftBehind(record),
            clientsBehaved(record, index),
            noPhantomKeys(record, timeline),
            stallsExplained(record, timeline),
        ]
    }

    static func outcome(_ name: String, _ violations: [String], _ detail: String) -> CheckOutcome {
        CheckOutcome(
            name: name, violations: Array(violations.prefix(listedViolations)), violationCount: violations.count,
            detail: detail)
    }

    static func unavailable(_ name: String) -> CheckOutcome {
        outcome(name, ["etcd's history of the register could not be read (compacted?)"], "not checked")
    }

    /// Nothing lost, nothing doubled: etcd's history of the register counts 1, 2, 3 … one step a
    /// write, and the final value is the number of writes.
    static func registerMatchesIncrements(_ record: VerificationRecord) -> CheckOutcome {
        let name = "the register equals the number of applied increments"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var violations: [String] = []
        for (position, write) in writes.enumerated() {
            guard let value = write.value else {
                violations.append("revision \(write.revision): the register holds something no client writes")
                continue
            }
            if value.count != position + 1 {
                violations.append(
                    "revision \(write.revision): \(value.operation) wrote \(value.count) as increment \(position + 1) "
                        + "(\(value.count <= position ? "an update was lost" : "an increment was skipped"))")
            }
        }
        if record.finalCount != writes.count {
            violations.append("the register ends at \(record.finalCount) after \(writes.count) writes")
        }
        return outcome(name, violations, "register \(record.finalCount), \(writes.count) increments in etcd's history")
    }

    /// What each client was told matches what etcd did: every acknowledged write is in etcd's
    /// history, no rejected or failed write is, and every write there was attempted by a client.
    static func outcomesMatchHistory(_ record: VerificationRecord, _ index: HistoryIndex) -> CheckOutcome {
        let name = "every write's outcome matches etcd's history"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var violations: [String] = []
        var applied: [String: Int] = [:]
        for write in writes {
            guard let operation = write.value?.operation else { continue }
            applied[operation, default: 0] += 1
        }
        for (operation, times) in applied where times > 1 {
            violations.append("\(operation) was applied \(times) times")
        }
        for operation in applied.keys where index.attempted[operation] == nil {
            violations.append("\(operation) is in etcd's history but no client attempted it")
        }
        for operation in index.accepted where applied[operation] == nil {
            violations.append("\(operation) was acknowledged but is not in etcd's history (lost)")
        }
        for operation in index.refused where applied[operation] != nil {
            violations.append("\(operation) was reported rejected or not applied, yet etcd applied it")
        }
        let unknownApplied = index.unknown.filter { applied[$0] != nil }.count
        return outcome(
            name, violations,
            "\(index.accepted.count) acknowledged, \(index.refused.count) rejected or not applied, "
                + "\(index.unknown.count) unknown (\(unknownApplied) of them applied)")
    }

    /// Fencing tokens only move forward: in etcd's order, each write's token is newer than the last.
    static func tokensIncrease(_ record: VerificationRecord) -> CheckOutcome {
        let name = "accepted tokens strictly increase"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var violations: [String] = []
        var previous: RegisterValue?
        for write in writes {
            guard let value = write.value else { continue }
            if let previous, value.token <= previous.token {
                violations.append(
                    "revision \(write.revision): \(value.operation) wrote with token \(value.token) after "
                        + "\(previous.operation) wrote with token \(previous.token)")
            }
            previous = value
        }
        return outcome(name, violations, "\(writes.count) writes in revision order")
    }

    /// Exclusion as etcd saw it: when each write applied, its writer's key held by the
    /// recipe's rule (a mutex's or a writer's key was the lowest of the lock's keys; a permit's
    /// was among the `permits` lowest).
    static func writerHeldLock(_ record: VerificationRecord) -> CheckOutcome {
        let isSemaphore = record.recipe.isSemaphore
        let name = isSemaphore ? "each write applied while its writer held a permit" : "each write applied while its writer held the lock"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var violations: [String] = []
        for write in writes {
            guard let value = write.value else { continue }
            if !write.holderTokens.contains(value.token) {
                let holders = write.holderTokens.isEmpty
                    ? "nobody" : "token\(write.holderTokens.count == 1 ? "" : "s") \(write.holderTokens.map(String.init).joined(separator: ", "))"
                violations.append(
                    "revision \(write.revision): \(value.operation) wrote with token \(value.token) while \(holders) held \(isSemaphore ? "the permits" : "the lock")")
            }
        }
        return outcome(name, violations, "holder\(isSemaphore ? "s" : "") read at each of \(writes.count) write revisions")
    }

    /// Mutual exclusion in real time: taking accepted writes in token order, each writer sent its
    /// write before the next writer acquired the lock.
    static func criticalSectionsDisjoint(_ record: VerificationRecord, _ index: HistoryIndex) -> CheckOutcome {
        let name = "accepted critical sections do not overlap"
        guard let writes = record.registerWrites else { return unavailable(name) }
        let sections = writes.compactMap(\.value).sorted { $0.token < $1.token }
        var violations: [String] = []
        var compared = 0
        for (earlier, later) in zip(sections, sections.dropFirst()) {
            guard let writeSent = index.attempted[earlier.operation], let nextAcquired = index.acquired[later.token]
            else { continue }
            compared += 1
            if writeSent >= nextAcquired {
                let overlap = Double(writeSent - nextAcquired) / 1e6
                violations.append(
                    "token \(later.token) was acquired \(String(format2: overlap)) ms before token \(earlier.token)'s "
                        + "holder sent \(earlier.operation)")
            }
        }
        return outcome(name, violations, "\(compared) consecutive pairs of accepted sections compared")
    }

    /// Clean-up: once every client stopped and every TTL ran out, no lock key and no client
    /// lease remain.
    static func nothingLeftBehind(_ record: VerificationRecord) -> CheckOutcome {
        let violations = record.leftoverKeys.map { "key \($0) is left behind" }
            + record.leftoverLeases.map { "lease \(String($0, radix: 16)) is left behind" }
        return outcome(
            "no waiter keys or leases are left behind", violations,
            "\(record.leftoverKeys.count) keys and \(record.leftoverLeases.count) leases left")
    }

    /// Every failure a client saw was a typed error; no client crashed or hung past a deadline.
    static func clientsBehaved(_ record: VerificationRecord, _ index: HistoryIndex) -> CheckOutcome {
        let slow = slowOperations(record)
        let violations = index.untyped.map { "untyped error: \($0)" } + record.unexpectedExits + record.hangs + slow
        return outcome(
            "client errors are typed; no crash, no hang", violations,
            "\(index.typedErrors) typed errors, \(record.unexpectedExits.count) crashes, \(record.hangs.count) hangs, "
                + "\(slow.count) operations past their deadline")
    }

    /// Operations that outlasted their limit although their client was not paused meanwhile.
    static func slowOperations(_ record: VerificationRecord) -> [String] {
        guard let limits = record.limits else { return [] }
        struct Locker: Hashable {
            var client: Int
            var incarnation: Int
            var locker: Int
        }
        var lockStarted: [Locker: UInt64] = [:]
        var writeStarted: [String: UInt64] = [:]
        var readStarted: [Locker: UInt64] = [:]
        var violations: [String] = []
        func check(_ event: HistoryEvent, since start: UInt64, limit: UInt64, what: String) {
            let span = start...max(start, event.time)
            guard event.time - start > limit,
                !(record.pauses[event.client] ?? []).contains(where: { $0.overlaps(span) })
            else { return }
            let seconds = String(format2: Double(event.time - start) / 1e9)
            violations.append(
                "client \(event.client).\(event.incarnation): \(what) took \(seconds) s "
                    + "(limit \(String(format2: Double(limit) / 1e9)) s) with no pause")
        }
        for event in record.events {
            let locker = Locker(client: event.client, incarnation: event.incarnation, locker: event.locker)
            switch event.step {
            case .lockStart:
                lockStarted[locker] = event.time
            case .acquired, .lockFailed:
                if let start = lockStarted.removeValue(forKey: locker) {
                    check(event, since: start, limit: limits.lock, what: "lock()")
                }
            case .writeStart(_, _, let operation):
                writeStarted[operation] = event.time
            case .writeAccepted(_, let operation), .writeRejected(_, let operation), .writeFailed(_, let operation, _),
                .writeUnknown(_, let operation, _):
                if let start = writeStarted.removeValue(forKey: operation) {
                    check(event, since: start, limit: limits.write, what: "the fenced write \(operation)")
                }
            case .readSent:
                readStarted[locker] = event.time
            case .readAccepted, .readRejected, .error:
                // A fenced read is a request like a fenced write; an error ends it too.
                if let start = readStarted.removeValue(forKey: locker) {
                    check(event, since: start, limit: limits.write, what: "a fenced read")
                }
            default:
                break
            }
        }
        return violations
    }
}
