import Foundation

/// What the value of a mutex's, read/write lock's or semaphore's queue key records: when the
/// entry joined the queue, when it was admitted (when that is known), a semaphore's permit count,
/// and the owner.
///
/// Stored as `since=<ms>;held=<ms>;permits=<N>;<owner>`, times in milliseconds since 1970 by
/// the writer's clock; each field is optional but they come in this order, so an owner that itself
/// starts like a field is still read back whole. A value without any field (written by hand, or by
/// an older version) is all owner, with no times.
///
/// Admission is recorded when it costs nothing or matters: an entry that found the queue empty
/// is written with `held` equal to `since`; a semaphore's announced admission and a
/// ``LockHandle`` admitted after waiting write `held` then. A library holder admitted after
/// waiting leaves it out (recording it would cost every contended handoff a write), so its hold
/// is known only to be at most its time in the queue.
///
/// Ages read from these times compare two machines' clocks: they are as good as their agreement.
public struct QueueEntryRecord: Sendable, Hashable {
    /// When the entry joined the queue.
    public var queuedAt: Date?
    /// When the entry was admitted, when recorded.
    public var admittedAt: Date?
    /// The permit count a semaphore entry acquired with.
    public var permits: Int?
    /// Its session's owner.
    public var owner: String

    /// A record of these fields.
    public init(queuedAt: Date? = nil, admittedAt: Date? = nil, permits: Int? = nil, owner: String) {
        self.queuedAt = queuedAt
        self.admittedAt = admittedAt
        self.permits = permits
        self.owner = owner
    }

    /// The record a key's value holds.
    public init(_ value: [UInt8]) {
        var rest = Substring(String(decoding: value, as: UTF8.self))
        func field(_ name: String) -> Int64? {
            guard rest.hasPrefix(name), let end = rest.firstIndex(of: ";"),
                let number = Int64(rest[rest.index(rest.startIndex, offsetBy: name.count)..<end])
            else { return nil }
            rest = rest[rest.index(after: end)...]
            return number
        }
        let since = field("since=")
        let held = field("held=")
        let permits = field("permits=")
        self.init(
            queuedAt: since.map(Self.date(milliseconds:)), admittedAt: held.map(Self.date(milliseconds:)),
            permits: permits.map { Int(clamping: $0) }, owner: String(rest))
    }

    /// The value to store.
    public var bytes: [UInt8] {
        var text = ""
        if let queuedAt { text += "since=\(Self.milliseconds(queuedAt));" }
        if let admittedAt { text += "held=\(Self.milliseconds(admittedAt));" }
        if let permits { text += "permits=\(permits);" }
        return Array((text + owner).utf8)
    }

    /// The same record, admitted at `date`.
    func admitted(at date: Date) -> QueueEntryRecord {
        var record = self
        record.admittedAt = date
        return record
    }

    /// How long ago `date` was, by this machine's clock (never negative).
    public static func age(of date: Date?, now: Date = Date()) -> Duration? {
        date.map { .milliseconds(max(0, milliseconds(now) - milliseconds($0))) }
    }

    private static func milliseconds(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
    private static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
