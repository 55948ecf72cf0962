import Foundation
import LockVerification

/// The verifier's report: fault counts by kind, what the clients did, each check's outcome.
extension VerifyCommand {
    /// Prints the faults injected (per kind), the clients' operations and errors, and every check.
    func report(_ outcomes: [CheckOutcome], events: [HistoryEvent], tally: FaultTally) async {
        let injected = await tally.injected
        let skipped = await tally.skipped
        let summary = HistorySummary(events)
        let byKind = FaultKind.allCases.filter { injected[$0] != nil }.map { "\($0.rawValue) \(injected[$0]!)" }
        Console.out("faults injected: \(injected.values.reduce(0, +)) (\(byKind.joined(separator: ", ")))")
        if !skipped.isEmpty {
            let text = skipped.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }.joined(separator: ", ")
            Console.out("faults not possible when due (target restarting, no leader known): \(text)")
        }
        for problem in await tally.problems { Console.out("nemesis problem: \(problem)") }
        Console.out(
            "operations: \(summary.lockAttempts) lock attempts, \(summary.acquired) acquired; writes: "
                + "\(summary.writesAccepted) accepted, \(summary.writesRejected) rejected by fencing, "
                + "\(summary.writesFailed) failed, \(summary.writesUnknown) unknown; \(summary.released) released, "
                + "\(summary.releaseFailures) unlock failures; \(summary.sessions) sessions"
                + (summary.readsAccepted + summary.readsRejected > 0
                    ? "; fenced reads: \(summary.readsAccepted) answered, \(summary.readsRejected) rejected by fencing" : ""))
        if !summary.errorsByCode.isEmpty {
            let text = summary.errorsByCode.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            Console.out("typed errors by code: \(text)")
        }
        for outcome in outcomes {
            Console.out("\(outcome.passed ? "PASS" : "FAIL")  \(outcome.name): \(outcome.detail)")
            for violation in outcome.violations { Console.out("      violation: \(violation)") }
            if outcome.violationCount > outcome.violations.count {
                Console.out("      … \(outcome.violationCount - outcome.violations.count) more")
            }
        }
    }

    /// Writes the histories to `--history`, or to a temporary file when a check failed.
    func writeHistory(_ events: [HistoryEvent], failed: Bool) throws {
        guard let path = historyPath ?? (failed ? NSTemporaryDirectory() + "etcdlock-verify-\(seed).history" : nil) else {
            return
        }
        let text = events.map {
            "client \($0.client).\($0.incarnation) \($0.time) lock \($0.lock) \($0.step.fields.joined(separator: " "))"
        }
            .joined(separator: "\n")
        try Data((text + "\n").utf8).write(to: URL(fileURLWithPath: path))
        Console.out("history: \(events.count) client steps written to \(path)")
    }
}
