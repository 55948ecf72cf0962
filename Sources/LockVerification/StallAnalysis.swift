/// A stretch during which someone waited for a lock and nobody held it (for a semaphore: a
/// permit was free).
public struct Stall: Sendable, Hashable {
    /// Which lock.
    public var lock: Int
    /// When it began and ended (monotonic nanoseconds).
    public var start: UInt64, end: UInt64
    /// What kept the lock free, as far as the samples and the fault log tell.
    public var cause: String
    /// Whether an injected fault accounts for its length.
    public var isExplained: Bool

    /// How long it lasted.
    public var length: UInt64 { end - start }
}

/// Availability per lock: the stalls in the clients' histories, their causes, and whether
/// injected faults account for them.
///
/// A locker waits from `lock()` until it returns, except while its process is paused; it
/// holds from the acquisition until the hold ends, except from the moment its process is
/// paused (a frozen holder holds nothing useful: waiters wait for its TTL). A stall is a
/// maximal stretch with a waiter and no holder (for a semaphore, fewer holders than permits). A stall is explained when it is no longer than
/// the margin, or when a fault that began no later than the margin after the stall did, and
/// whose influence (its duration, then the TTL and the recovery time) reached the stall,
/// allows for its whole length: `length ≤ fault duration + TTL + recovery + margin`. Stretches
/// in which the queue samples saw among the holders by the recipe's rule (the head, the readers
/// ahead of the first writer, the `permits` oldest keys) the key of a dead, frozen or ended
/// session whose lease etcd may still keep (leader changes renew every lease) are explained by
/// that lease; the rest of the stall must be explained stretch by stretch.
struct StallAnalysis {
    let timeline: ClientTimeline
    let rules: LivenessRules
    let faults: [InjectedFault]
    let samples: [QueueSample]
    var recipe = VerifiedRecipe.mutex

    /// Every stall of `lock`, in time order.
    func stalls(of lock: Int) -> [Stall] {
        var changes: [(time: UInt64, waiting: Int, holding: Int)] = []
        for attempt in timeline.attempts where attempt.lock == lock {
            let waitEnd = attempt.acquired ?? attempt.end
            for piece in subtractingPauses(attempt.start...max(attempt.start, waitEnd), client: attempt.process.client) {
                changes.append((piece.lowerBound, 1, 0))
                changes.append((piece.upperBound, -1, 0))
            }
            if let acquired = attempt.acquired {
                let frozen = timeline.pauses(of: attempt.process.client, overlapping: acquired...max(acquired, attempt.end))
                    .map(\.lowerBound).filter { $0 >= acquired }.min()
                let holdEnd = min(attempt.end, frozen ?? .max)
                changes.append((acquired, 0, 1))
                changes.append((max(acquired, holdEnd), 0, -1))
            }
        }
        // At equal times, holds start before anything ends, so a handoff at one instant is no stall.
        changes.sort { ($0.time, -$0.holding) < ($1.time, -$1.holding) }
        var stalls: [Stall] = []
        var waiting = 0, holding = 0
        var stalledSince: UInt64?
        for change in changes {
            waiting += change.waiting
            holding += change.holding
            let stalled = waiting > 0 && holding < recipe.capacity
            if stalled, stalledSince == nil {
                stalledSince = change.time
            } else if !stalled, let since = stalledSince {
                stalledSince = nil
                if change.time > since && change.time != .max { stalls.append(judge(lock: lock, since, change.time)) }
            }
        }
        return stalls
    }

    /// `range` without the pauses of `client`.
    private func subtractingPauses(_ range: ClosedRange<UInt64>, client: Int) -> [ClosedRange<UInt64>] {
        var pieces = [range]
        for pause in timeline.pauses(of: client, overlapping: range) {
            pieces = pieces.flatMap { piece -> [ClosedRange<UInt64>] in
                guard piece.overlaps(pause) else { return [piece] }
                var rest: [ClosedRange<UInt64>] = []
                if piece.lowerBound < pause.lowerBound { rest.append(piece.lowerBound...pause.lowerBound) }
                if pause.upperBound < piece.upperBound { rest.append(pause.upperBound...piece.upperBound) }
                return rest
            }
        }
        return pieces
    }

    /// Whether faults account for the stall `[start, end]`, and what the samples say.
    ///
    /// Stretches in which consecutive samples saw a dead, frozen or ended owner's key at the
    /// head are explained by that lease's life (``PhantomKeyCheck/leaseMayLive(after:at:)``);
    /// every other stretch of the stall must be explained by one fault on its own.
    private func judge(lock: Int, _ start: UInt64, _ end: UInt64) -> Stall {
        let during = samples.filter { $0.lock == lock && $0.sent >= start && $0.received <= end }.sorted { $0.sent < $1.sent }
        let heads = during.map(head(lock: lock))
        var uncovered: [ClosedRange<UInt64>] = []
        var cursor = start
        for (sample, head) in zip(during, heads) where head.isLeaseOfGoneOwner {
            if sample.sent > cursor { uncovered.append(cursor...sample.sent) }
            cursor = max(cursor, sample.received)
        }
        if end > cursor { uncovered.append(cursor...end) }
        let explained = uncovered.allSatisfy(explainedByOneFault)
        var cause = heads.first { !$0.isLeaseOfGoneOwner }?.text ?? heads.last?.text ?? "not sampled"
        if heads.contains(where: \.isLeaseOfGoneOwner), let other = heads.first(where: { !$0.isLeaseOfGoneOwner }) {
            cause = other.text + ", and keys of gone owners"
        }
        let influence = rules.ttl + rules.recovery + rules.margin
        let overlapping = faults.filter { $0.start <= end && $0.end + influence >= start }
        if !overlapping.isEmpty {
            cause += "; faults: " + overlapping.prefix(4).map(\.description).joined(separator: ", ")
                + (overlapping.count > 4 ? " …" : "")
        }
        return Stall(lock: lock, start: start, end: end, cause: cause, isExplained: explained)
    }

    /// Whether the stretch is no longer than the margin, or one fault that began by the margin
    /// after it did, and whose influence reached it, allows for its length.
    private func explainedByOneFault(_ stretch: ClosedRange<UInt64>) -> Bool {
        let length = stretch.upperBound - stretch.lowerBound
        let influence = rules.ttl + rules.recovery + rules.margin
        return length <= rules.margin
            || faults.contains {
                $0.start <= stretch.lowerBound + rules.margin && $0.end + influence >= stretch.lowerBound
                    && length <= $0.end - $0.start + influence
            }
    }

    /// What a sample saw at the head of the queue.
    private struct Head {
        var text: String
        /// A key whose owner is dead, frozen or past its session, and whose lease etcd may still keep.
        var isLeaseOfGoneOwner = false
    }

    /// What held the queue in `sample` by the recipe's rule, and why it was there: the first
    /// holder whose owner is gone, if any, or else the oldest holder.
    private func head(lock: Int) -> (QueueSample) -> Head {
        { sample in
            let heads = recipe.holders(in: sample.keys).map { describe($0, of: sample, lock: lock) }
            return heads.first(where: \.isLeaseOfGoneOwner) ?? heads.first
                ?? Head(text: "queue empty (waiters not enqueued: etcd unreachable?)")
        }
    }

    /// Why the holder `head` was in the queue in `sample`.
    private func describe(_ head: QueueKey, of sample: QueueSample, lock: Int) -> Head {
        guard let known = timeline.owner(of: head, lock: lock) else { return Head(text: "PHANTOM head key of an unknown lease") }
        let session = known.session
        let owner = "client \(session.process)"
        let at = sample.sent
        let checker = PhantomKeyCheck(timeline: timeline, rules: rules, faults: faults)
        if let pause = timeline.pauses(of: session.process.client, overlapping: session.start...max(session.start, sample.received)).last,
            checker.leaseMayLive(after: pause.lowerBound, at: at)
        {
            return Head(text: "head key of frozen \(owner), until its lease expires", isLeaseOfGoneOwner: true)
        }
        if let end = session.end, end <= at, checker.leaseMayLive(after: end, at: at) {
            let kept = end + rules.ttl + rules.margin < at ? " (kept alive by leader changes)" : ""
            return Head(text: "head key of ended session of \(owner), until its lease expires\(kept)", isLeaseOfGoneOwner: true)
        }
        let attempts = known.attempts.filter { $0.start <= sample.received && $0.end >= at }
        if attempts.contains(where: { $0.acquired.map { $0 <= sample.received } ?? false }) {
            return Head(text: "head key of \(owner), which believed it held")
        }
        if !attempts.isEmpty { return Head(text: "head key of waiting \(owner), not yet told it heads the queue") }
        return checker.isExplained(head, lock: lock, sent: sample.sent, received: sample.received)
            ? Head(text: "head key of \(owner) being withdrawn") : Head(text: "PHANTOM head key of idle \(owner)")
    }
}

extension HistoryChecker {
    /// Every lock's longest stall, with its cause; a stall no injected fault accounts for is a
    /// violation (see ``StallAnalysis``).
    static func stallsExplained(_ record: VerificationRecord, _ timeline: ClientTimeline) -> CheckOutcome {
        let name = "every stall (a waiter, no holder) is explained by an injected fault"
        guard let rules = record.liveness else { return outcome(name, [], "not measured") }
        let analysis = StallAnalysis(
            timeline: timeline, rules: rules, faults: record.faults, samples: record.samples, recipe: record.recipe)
        let stalls = analysis.stalls(of: record.lock)
        let origin = record.origin
        func describe(_ stall: Stall) -> String {
            "\(seconds(stall.length)) s from \(seconds(stall.start &- origin)) s: \(stall.cause)"
        }
        let violations = stalls.filter { !$0.isExplained }.sorted { $0.length > $1.length }.map { "unexplained stall of " + describe($0) }
        let longest = stalls.max { $0.length < $1.length }.map { "longest stall " + describe($0) } ?? "no stall"
        return outcome(name, violations, "\(stalls.count) stalls; \(longest)")
    }
}
