import Etcd
import EtcdLock
import Foundation

extension InspectCommand {
    /// The lines `inspect` prints: the chosen kind, or every kind with keys (the mutex when none has).
    func textReport(_ queues: [LockQueueState]) -> [String] {
        var shown = kind == nil ? queues.filter { !$0.isFree } : queues
        if shown.isEmpty, let mutex = queues.first { shown = [mutex] }
        return shown.flatMap { queue in
            queue.kind == .lock ? mutexLines(queue) : recipeLines(queue)
        }
    }

    /// The mutex's lines, as `inspect` always printed them.
    private func mutexLines(_ queue: LockQueueState) -> [String] {
        guard let holder = queue.holders.first else { return ["lock \(lockName): free"] }
        var lines = [
            "lock \(lockName): held by \(Console.field(holder.owner)), token \(holder.keyValue.createRevision), lease TTL \(holder.ttl.map { "\($0)s" } ?? "none")\(Self.ages(holder, holds: true))",
            "  key \(holder.keyValue.key)",
        ]
        for (index, waiter) in queue.waiters.enumerated() {
            lines.append(
                "  waiter \(index + 1): \(Console.field(waiter.owner)), token \(waiter.keyValue.createRevision)\(Self.ages(waiter, holds: false)), key \(waiter.keyValue.key)")
        }
        return lines
    }

    /// A read/write lock's or a semaphore's lines: a summary, then one line per holder and waiter.
    private func recipeLines(_ queue: LockQueueState) -> [String] {
        let label = "\(queue.kind) \(lockName)"
        guard !queue.isFree else { return ["\(label): free"] }
        let waiting = "\(queue.waiters.count) waiting"
        var summary: String
        switch queue.kind {
        case .semaphore:
            summary = "\(queue.holders.count) of \(queue.permits.map(String.init) ?? "?") permits held, \(waiting)"
        case .rwlock where queue.holders.first?.mode == .write:
            summary = "held for writing, \(waiting)"
        case .rwlock, .lock:
            summary = "held for reading by \(queue.holders.count), \(waiting)"
        }
        var lines = ["\(label): \(summary)"]
        for holder in queue.holders { lines.append("  holder (\(holder.mode)): \(entryText(holder, in: queue, holds: true))") }
        for (index, waiter) in queue.waiters.enumerated() {
            lines.append("  waiter \(index + 1) (\(waiter.mode)): \(entryText(waiter, in: queue, holds: false))")
        }
        return lines
    }

    /// `, held for 2.5s` (or `, in queue for 9.1s` when the admission is not recorded) for a
    /// holder, `, waiting for 1.2s` for a waiter: nothing when the key records no times.
    static func ages(_ entry: LockQueueState.Entry, holds: Bool) -> String {
        let now = Date()
        func text(_ date: Date?) -> String? { QueueEntryRecord.age(of: date, now: now).map { Console.seconds($0) } }
        guard holds else { return text(entry.queuedAt).map { ", waiting for \($0)" } ?? "" }
        if let held = text(entry.admittedAt) { return ", held for \(held)" }
        return text(entry.queuedAt).map { ", in queue for \($0)" } ?? ""
    }

    private func entryText(_ entry: LockQueueState.Entry, in queue: LockQueueState, holds: Bool) -> String {
        var text = "\(Console.field(entry.owner)), token \(entry.keyValue.createRevision)\(Self.ages(entry, holds: holds))"
        text += ", lease \(entry.keyValue.lease?.hexString ?? "none"), lease TTL \(entry.ttl.map { "\($0)s" } ?? "none")"
        // A semaphore entry that disagrees with the oldest one about the count (refused from now on).
        if entry.mode == .permit, entry.permits != queue.permits { text += ", with \(entry.permits.map(String.init) ?? "?") permits" }
        return text + ", key \(entry.keyValue.key)"
    }

    /// The `--json` object: the mutex's fields at the top (as `inspect` always printed them), each
    /// other kind in a field of its own.
    func jsonReport(_ queues: [LockQueueState], revision: Revision) -> String {
        var fields = [#""lock":\#(jsonString(lockName))"#, #""revision":\#(revision)"#]
        for queue in queues {
            let holders = queue.holders.map { entryJSON($0, holds: true) }.joined(separator: ",")
            let waiters = queue.waiters.map { entryJSON($0, holds: false) }.joined(separator: ",")
            switch queue.kind {
            case .lock:
                fields.append(#""holder":\#(queue.holders.first.map { entryJSON($0, holds: true) } ?? "null")"#)
                fields.append(#""waiters":[\#(waiters)]"#)
            case .rwlock:
                let mode = queue.holders.first.map { jsonString($0.mode.rawValue) } ?? "null"
                fields.append(#""rwlock":{"mode":\#(mode),"holders":[\#(holders)],"waiters":[\#(waiters)]}"#)
            case .semaphore:
                let permits = queue.permits.map(String.init) ?? "null"
                fields.append(#""semaphore":{"permits":\#(permits),"holders":[\#(holders)],"waiters":[\#(waiters)]}"#)
            }
        }
        return "{" + fields.joined(separator: ",") + "}"
    }

    private func entryJSON(_ entry: LockQueueState.Entry, holds: Bool) -> String {
        let now = Date()
        func age(_ date: Date?) -> String { QueueEntryRecord.age(of: date, now: now).map { Console.seconds($0, unit: "") } ?? "null" }
        let ages =
            holds
            ? [#""held_for_seconds":\#(age(entry.admittedAt))"#, #""queued_for_seconds":\#(age(entry.queuedAt))"#]
            : [#""waiting_for_seconds":\#(age(entry.queuedAt))"#]
        var fields =
            [
                #""key":\#(jsonString(entry.keyValue.key.description))"#, #""owner":\#(jsonString(entry.owner))"#,
                #""token":\#(entry.keyValue.createRevision)"#, #""lease":\#(jsonString(entry.keyValue.lease?.hexString ?? ""))"#,
                #""lease_ttl_seconds":\#(entry.ttl.map(String.init) ?? "null")"#,
            ] + ages + [#""mode":\#(jsonString(entry.mode.rawValue))"#]
        if entry.mode == .permit { fields.append(#""permits":\#(entry.permits.map(String.init) ?? "null")"#) }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
