/// Counts of what the clients did, for the report.
public struct HistorySummary: Sendable, Hashable {
    /// `lock()` calls.
    public var lockAttempts = 0
    /// Locks acquired.
    public var acquired = 0
    /// Writes acknowledged as applied.
    public var writesAccepted = 0
    /// Writes rejected by fencing (the writer no longer held the lock).
    public var writesRejected = 0
    /// Writes that certainly failed, and writes whose outcome is unknown.
    public var writesFailed = 0, writesUnknown = 0
    /// Successful and failed `unlock()` calls.
    public var released = 0, releaseFailures = 0
    /// Fenced reads answered, and refused because the reader's hold was gone.
    public var readsAccepted = 0, readsRejected = 0
    /// Sessions granted (client processes start a new one after losing theirs).
    public var sessions = 0
    /// Typed error codes seen, with how often.
    public var errorsByCode: [String: Int] = [:]

    /// Counts `events`.
    public init(_ events: [HistoryEvent]) {
        for event in events {
            switch event.step {
            case .session: sessions += 1
            case .lockStart: lockAttempts += 1
            case .acquired: acquired += 1
            case .lockFailed(let code): errorsByCode["lock:\(code)", default: 0] += 1
            case .writeAccepted: writesAccepted += 1
            case .writeRejected: writesRejected += 1
            case .writeFailed(_, _, let code):
                writesFailed += 1
                errorsByCode["write:\(code)", default: 0] += 1
            case .writeUnknown(_, _, let code):
                writesUnknown += 1
                errorsByCode["write:\(code)", default: 0] += 1
            case .released: released += 1
            case .releaseFailed(_, let code):
                releaseFailures += 1
                errorsByCode["unlock:\(code)", default: 0] += 1
            case .error(let code): errorsByCode[code, default: 0] += 1
            case .readAccepted: readsAccepted += 1
            case .readRejected: readsRejected += 1
            case .read, .readSent, .writeStart, .untypedError, .stopped: break
            }
        }
    }
}
