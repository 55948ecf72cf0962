import Foundation

/// What the value of a mutex's, read/write lock's or semaphore's queue key records: when the
/// entry joined the queue, when it was admitted (when that is known), a semaphore's permit count,
/// and the owner.
///
/// Stored as `since=<ms>;held=[<ms>];permits=[<N>];<owner>`, times in milliseconds since 1970 by
/// the writer's clock: the writer always writes all three fields (empty when unknown), and a value
/// is read as a record only in exactly that layout, so an owner's text is never taken for a field
/// (an owner `held=0;bob` stays that). Anything else — written by hand, or numbers out of range — is
/// all owner, with no times; `permits=<N>;<owner>` (a semaphore key of an earlier version) is read
/// as its count and owner.
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
        let text = Substring(String(decoding: value, as: UTF8.self))
        if let record = Self.parseLayout(text) {
            self = record
        } else if text.hasPrefix("permits="), let end = text.firstIndex(of: ";"),
            let permits = Self.number(text[text.index(text.startIndex, offsetBy: 8)..<end], digits: 9)
        {
            self.init(permits: Int(permits), owner: String(text[text.index(after: end)...]))
        } else {
            self.init(owner: String(text))
        }
    }

    /// The record in the layout this type writes, or `nil` when `text` is not exactly in it.
    private static func parseLayout(_ text: Substring) -> QueueEntryRecord? {
        var rest = text
        // One `name=<digits>;` field (`optional`: the digits may be missing); nil on anything else.
        func field(_ name: String, optional: Bool) -> Int64?? {
            guard rest.hasPrefix(name), let end = rest.firstIndex(of: ";") else { return .none }
            let digits = rest[rest.index(rest.startIndex, offsetBy: name.count)..<end]
            rest = rest[rest.index(after: end)...]
            if digits.isEmpty { return optional ? .some(nil) : .none }
            return number(digits, digits: 15).map { .some($0) } ?? .none
        }
        guard case .some(.some(let since)) = field("since=", optional: false),
            case .some(let held) = field("held=", optional: true),
            case .some(let permits) = field("permits=", optional: true)
        else { return nil }
        let queuedAt = date(milliseconds: since)
        // An admission before the entry joined is not one this type wrote: left out.
        let admittedAt = held.flatMap { $0 >= since ? date(milliseconds: $0) : nil }
        return QueueEntryRecord(queuedAt: queuedAt, admittedAt: admittedAt, permits: permits.map { Int($0) }, owner: String(rest))
    }

    /// Decimal digits only, at most `digits` of them (so every value read is far from overflowing).
    private static func number(_ text: Substring, digits: Int) -> Int64? {
        guard !text.isEmpty, text.utf8.count <= digits, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int64(text)
    }

    /// The value to store.
    public var bytes: [UInt8] {
        let held = admittedAt.map { String(Self.milliseconds($0)) } ?? ""
        let count = permits.map(String.init) ?? ""
        guard let queuedAt else {
            // Without a time, the earlier layouts: the owner alone, or a semaphore's count before it.
            return Array((permits.map { "permits=\($0);" } ?? "") .utf8) + Array(owner.utf8)
        }
        return Array("since=\(Self.milliseconds(queuedAt));held=\(held);permits=\(count);\(owner)".utf8)
    }

    /// The same record, admitted at `date`.
    func admitted(at date: Date) -> QueueEntryRecord {
        var record = self
        record.admittedAt = date
        return record
    }

    /// How long ago `date` was, by this machine's clock (never negative; ages of dates this type
    /// reads stay far within a `Duration`).
    public static func age(of date: Date?, now: Date = Date()) -> Duration? {
        guard let date else { return nil }
        let seconds = now.timeIntervalSince1970 - date.timeIntervalSince1970
        guard seconds.isFinite, seconds > 0 else { return .zero }
        return .milliseconds(Int64(min(seconds, 1e12) * 1000))
    }

    private static func milliseconds(_ date: Date) -> Int64 {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        // Dates before 1970 or past year 33658 are not written: 0 or the largest value read back.
        return milliseconds.isFinite ? Int64(min(max(milliseconds, 0), 999_999_999_999_999)) : 0
    }

    private static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
