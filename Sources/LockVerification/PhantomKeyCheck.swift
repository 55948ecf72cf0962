/// Finds phantom keys in the queue samples: keys whose owner, at that moment, neither waited
/// for nor held the lock, and was not dead or frozen recently enough for its lease to still run.
///
/// A key is explained (not a phantom) when any of these holds at some moment of the sample's
/// read window `[sent, received]` (etcd's snapshot lies within it):
/// - its owner has an attempt on that lock under that lease which had started by `received`
///   and ended no earlier than `sent - withdrawalGrace` (the key appears only after `lock()`
///   was called and is deleted before `released`/`lock-failed` is printed, except for a
///   withdrawal still being retried after a failed `lock()`, which the grace covers);
/// - its owner's session had ended (another session, or the process died or stopped), or its
///   owner's slot was paused, and the lease may still live: it runs out a TTL after that, but
///   etcd (without lease checkpoints) gives every lease a fresh TTL when a new leader takes
///   over, so each member fault that begins before the lease ran out extends its life to the
///   fault's end plus recovery plus TTL (``leaseMayLive(after:at:)``).
/// Anything else is a key that blocks the queue for no one, possibly for as long as its
/// owner's session lives.
struct PhantomKeyCheck {
    /// One phantom key, with the samples that saw it.
    struct Phantom {
        var key: QueueKey
        var owner: ClientProcess?
        var firstSeen: UInt64
        var lastSeen: UInt64
        var samples: Int
        /// When the owner's last attempt on the lock under that lease ended, if it had one.
        var lastAttemptEnd: UInt64?
    }

    let timeline: ClientTimeline
    let rules: LivenessRules
    /// The member faults injected (each may have changed the leader), by start.
    let memberFaults: [InjectedFault]

    init(timeline: ClientTimeline, rules: LivenessRules, faults: [InjectedFault]) {
        self.timeline = timeline
        self.rules = rules
        memberFaults = faults.filter { $0.kind.targetsMember }.sorted { $0.start < $1.start }
    }

    /// The latest moment a lease last renewed at `renewed` may still live: a TTL (plus margin)
    /// later, pushed on by every member fault that began before then.
    func leaseDeadline(renewedAt renewed: UInt64) -> UInt64 {
        var deadline = renewed + rules.ttl + rules.margin
        for fault in memberFaults where fault.start <= deadline {
            deadline = max(deadline, fault.end + rules.recovery + rules.ttl + rules.margin)
        }
        return deadline
    }

    /// Whether the lease of a session that stopped renewing it at `renewed` may live at `time`.
    func leaseMayLive(after renewed: UInt64, at time: UInt64) -> Bool {
        renewed <= time ? leaseDeadline(renewedAt: renewed) >= time : true
    }

    /// Whether `key` of lock `lock` seen in the window `[sent, received]` has an explanation.
    func isExplained(_ key: QueueKey, lock: Int, sent: UInt64, received: UInt64) -> Bool {
        guard let owner = timeline.owner(of: key, lock: lock) else { return false }
        let session = owner.session
        let attempted = owner.attempts.contains {
            $0.start <= received && $0.end.addingReportingOverflow(rules.withdrawalGrace).partialValue >= sent
        }
        if attempted { return true }
        if let end = session.end, end <= received, leaseMayLive(after: end, at: sent) { return true }
        return timeline.pauses(of: session.process.client, overlapping: session.start...max(session.start, received)).contains {
            leaseMayLive(after: $0.lowerBound, at: sent)
        }
    }

    /// Every phantom key in `samples`, once each, in the order first seen.
    func phantoms(in samples: [QueueSample]) -> [Phantom] {
        var found: [QueueKey: Phantom] = [:]
        for sample in samples.sorted(by: { $0.sent < $1.sent }) {
            for key in sample.keys where !isExplained(key, lock: sample.lock, sent: sample.sent, received: sample.received) {
                if found[key] != nil {
                    found[key]!.lastSeen = sample.received
                    found[key]!.samples += 1
                    continue
                }
                let known = timeline.owner(of: key, lock: sample.lock)
                let owner = known?.session.process
                let lastEnd = known?.attempts.filter { $0.start <= sample.received }.map(\.end).max()
                found[key] = Phantom(
                    key: key, owner: owner, firstSeen: sample.sent, lastSeen: sample.received, samples: 1,
                    lastAttemptEnd: lastEnd)
            }
        }
        return found.values.sorted { $0.firstSeen < $1.firstSeen }
    }
}

extension HistoryChecker {
    /// No key in a lock's queue belongs to an owner that waits for and holds nothing, sampled
    /// during the run (see ``PhantomKeyCheck``).
    static func noPhantomKeys(_ record: VerificationRecord, _ timeline: ClientTimeline) -> CheckOutcome {
        let name = "no phantom keys in the lock queues (sampled during the run)"
        guard let rules = record.liveness, !record.samples.isEmpty else {
            return outcome(name, [], "not sampled")
        }
        let check = PhantomKeyCheck(timeline: timeline, rules: rules, faults: record.faults)
        let phantoms = check.phantoms(in: record.samples)
        let origin = record.origin
        let violations = phantoms.map { phantom in
            let owner = phantom.owner.map { "client \($0)" } ?? "no known client"
            let last = phantom.lastAttemptEnd.map { "its owner's last attempt on the lock ended at \(seconds($0 &- origin)) s" }
                ?? "its owner never tried this lock under that lease"
            return "key of lease \(String(phantom.key.lease, radix: 16)) (\(owner), create revision "
                + "\(phantom.key.createRevision)) seen from \(seconds(phantom.firstSeen &- origin)) s to "
                + "\(seconds(phantom.lastSeen &- origin)) s in \(phantom.samples) samples; \(last)"
        }
        let keys = record.samples.reduce(0) { $0 + $1.keys.count }
        return outcome(name, violations, "\(record.samples.count) samples, \(keys) keys seen, \(phantoms.count) phantoms")
    }
}
