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
/// as its count and owner. Times before 2000 (a writer whose clock was never set) are left out.
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
    ///
    /// Read byte by byte: as `Character`s, an owner starting with a combining mark would fuse with
    /// the `;` before it, and the fields would be lost (a semaphore's count with them).
    public init(_ value: [UInt8]) {
        let bytes = value[...]
        if let record = Self.parseLayout(bytes) {
            self = record
        } else if let (permits, owner) = Self.field("permits=", in: bytes, digits: 9), let permits {
            self.init(permits: Int(permits), owner: String(decoding: owner, as: UTF8.self))
        } else {
            self.init(owner: String(decoding: value, as: UTF8.self))
        }
    }

    /// The record in the layout this type writes, or `nil` when `bytes` is not exactly in it.
    private static func parseLayout(_ bytes: ArraySlice<UInt8>) -> QueueEntryRecord? {
        guard let (since, afterSince) = field("since=", in: bytes), let since,
            let (held, afterHeld) = field("held=", in: afterSince, optional: true),
            let (permits, owner) = field("permits=", in: afterHeld, digits: 9, optional: true)
        else { return nil }
        // Times before 2000 (a writer without a real-time clock), and an admission before the entry
        // joined, are not told: the permit count and the owner still are.
        let queuedAt = since >= earliestMilliseconds ? date(milliseconds: since) : nil
        let admittedAt = held.flatMap { $0 >= since && queuedAt != nil ? date(milliseconds: $0) : nil }
        return QueueEntryRecord(
            queuedAt: queuedAt, admittedAt: admittedAt, permits: permits.map { Int($0) },
            owner: String(decoding: owner, as: UTF8.self))
    }

    /// Times before 2000 are not told (a clock that was never set).
    private static let earliestMilliseconds: Int64 = 946_684_800_000

    /// One leading `name<digits>;` field of `bytes` and what follows it: `nil` when `bytes` does
    /// not start with one; the number is `nil` when the digits are missing and `optional`. At most
    /// `digits` digits, so no number read is anywhere near overflowing.
    private static func field(
        _ name: StaticString, in bytes: ArraySlice<UInt8>, digits limit: Int = 15, optional: Bool = false
    ) -> (Int64?, ArraySlice<UInt8>)? {
        let prefix = UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount)
        guard bytes.starts(with: prefix) else { return nil }
        let digitsStart = bytes.startIndex + prefix.count
        guard let end = bytes[digitsStart...].firstIndex(of: UInt8(ascii: ";")) else { return nil }
        let digits = bytes[digitsStart..<end]
        let rest = bytes[(end + 1)...]
        if digits.isEmpty { return optional ? (nil, rest) : nil }
        guard digits.count <= limit, digits.allSatisfy({ $0 >= 48 && $0 <= 57 }), let number = Int64(String(decoding: digits, as: UTF8.self))
        else { return nil }
        return (number, rest)
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

    /// An age as seconds with millisecond precision, `2.500` (never negative): how inspections
    /// print and serve it.
    public static func secondsText(_ age: Duration) -> String {
        let milliseconds = max(0, age.components.seconds * 1000 + age.components.attoseconds / 1_000_000_000_000_000)
        let fraction = String(milliseconds % 1000)
        return "\(milliseconds / 1000)." + String(repeating: "0", count: 3 - fraction.count) + fraction
    }

    private static func milliseconds(_ date: Date) -> Int64 {
        let milliseconds = (date.timeIntervalSince1970 * 1000).rounded(.down)
        // Dates before 1970 or past year 33658 are not written: 0 or the largest value read back.
        return milliseconds.isFinite ? Int64(min(max(milliseconds, 0), 999_999_999_999_999)) : 0
    }

    private static func date(milliseconds: Int64) -> Date { Date(timeIntervalSince1970: Double(milliseconds) / 1000) }
}
