/// Finds phantom keys in the queue samples: keys whose owner, at that moment, neither waited
/// for nor held the lock, and was not dead or frozen recently enough for its lease to still run.
///
/// A key is explained (not a phantom) when any of these holds at some moment of the sample's
/// read window `[sent, received]` (etcd's snapshot lies within it):
/// - its owner has an attempt on that lock under that lease which had started by `received`
///   and ended no earlier than `sent - withdrawalGrace` (the key appears only after `lock()`
///   was called and is deleted before `released`/`lock-failed` is printed, except for a
///   withdrawal still being retried after a failed `lock()`, which the grace covers);
/// - its owner's session had ended (another session, or the process died or stopped) no
///   earlier than `sent - ttl - margin`: its lease runs out within the TTL;
/// - its owner's slot was paused no earlier than `sent - ttl - margin`: the same.
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

    /// Whether `key` of lock `lock` seen in the window `[sent, received]` has an explanation.
    func isExplained(_ key: QueueKey, lock: Int, sent: UInt64, received: UInt64) -> Bool {
        guard let session = timeline.sessions[key.lease] else { return false }
        let leaseLife = rules.ttl + rules.margin
        let attempted = timeline.attempts.contains {
            $0.lease == key.lease && $0.lock == lock && $0.start <= received
                && $0.end.addingReportingOverflow(rules.withdrawalGrace).partialValue >= sent
        }
        if attempted { return true }
        if let end = session.end, end <= received, end + leaseLife >= sent { return true }
        let window = (sent > leaseLife ? sent - leaseLife : 0)...received
        return !timeline.pauses(of: session.process.client, overlapping: window).isEmpty
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
                let owner = timeline.sessions[key.lease]?.process
                let lastEnd = timeline.attempts.filter { $0.lease == key.lease && $0.lock == sample.lock && $0.start <= sample.received }
                    .map(\.end).max()
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
        let check = PhantomKeyCheck(timeline: timeline, rules: rules)
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
