/// One `lock()` attempt of one locker, from its start to the end of the hold it led to (or to
/// its failure): the stretch during which the client believes it waits for or holds the lock.
public struct LockAttempt: Sendable, Hashable {
    /// How an attempt ended.
    public enum Ending: Sendable, Hashable {
        /// `unlock()` landed (the key is gone).
        case released
        /// `lock()` failed (the key was withdrawn, or is being withdrawn).
        case failed
        /// The locker moved on without a release that landed (the lock or session was lost).
        case abandoned
        /// The process stopped or died, or the history ended.
        case processEnded
    }

    /// Whose attempt.
    public var process: ClientProcess
    /// Which locker of the process.
    public var locker: Int
    /// Which lock.
    public var lock: Int
    /// The session the attempt ran under (0 if the process printed none yet).
    public var lease: Int64
    /// When `lock()` was called.
    public var start: UInt64
    /// When it returned holding the lock, if it did.
    public var acquired: UInt64?
    /// When the attempt ended (`UInt64.max` if it never did).
    public var end: UInt64
    /// How it ended.
    public var ending: Ending
    /// Which attempt of its locker on its lock this is in its process, from 0.
    public var sequence: Int

    /// The owner text a client sends with an attempt through the lock service, which the
    /// service stores as the waiter's key's value: it names the attempt, as a lease names a
    /// session (the service's leases are its own until the acquire answers).
    /// Numbered per locker and lock, so that each lock's own history (a record holds one lock's
    /// events) numbers its attempts as the client did.
    public static func ownerTag(of process: ClientProcess, locker: Int, lock: Int, sequence: Int) -> String {
        "c\(process.client).\(process.incarnation).\(locker).\(lock).\(sequence)"
    }

    /// This attempt's owner text (``ownerTag(of:locker:lock:sequence:)``).
    public var ownerTag: String { Self.ownerTag(of: process, locker: locker, lock: lock, sequence: sequence) }
}

/// Whose a queue key is: the session it belongs to and its attempts on the lock.
public struct KeyOwner: Sendable {
    /// The session; for a key named by its owner text, the attempt's own stretch.
    public var session: ClientSession
    /// The attempts that may have written the key.
    public var attempts: [LockAttempt]
}

/// A session of one process: its lease, from grant to the next session or the process's end.
public struct ClientSession: Sendable, Hashable {
    /// The process.
    public var process: ClientProcess
    /// The lease.
    public var lease: Int64
    /// When the session line was printed.
    public var start: UInt64
    /// When the process started another session or ended (`nil` while it still ran at the end).
    public var end: UInt64?
}

/// What the clients believed, when: every attempt and session, rebuilt from the histories, the
/// processes' exit times and the pauses.
public struct ClientTimeline: Sendable {
    /// Every attempt, in start order.
    public private(set) var attempts: [LockAttempt] = []
    /// Sessions by lease.
    public private(set) var sessions: [Int64: ClientSession] = [:]
    /// When each client slot was paused.
    public let pauses: [Int: [ClosedRange<UInt64>]]

    /// Rebuilds the timeline.
    ///
    /// - Parameters:
    ///   - events: the histories (each process's events in the order it printed them).
    ///   - exits: when each process was seen to exit (after its last keepalive, if it was killed).
    ///   - pauses: when each client slot was paused.
    public init(events: [HistoryEvent], exits: [ClientProcess: UInt64], pauses: [Int: [ClosedRange<UInt64>]]) {
        self.pauses = pauses
        struct Locker: Hashable {
            var process: ClientProcess
            var locker: Int
        }
        var open: [Locker: LockAttempt] = [:]
        struct LockerOnLock: Hashable {
            var locker: Locker
            var lock: Int
        }
        var started: [LockerOnLock: Int] = [:]
        var currentLease: [ClientProcess: Int64] = [:]
        var lastTime: [ClientProcess: UInt64] = [:]
        func close(_ key: Locker, at time: UInt64, _ ending: LockAttempt.Ending) {
            guard var attempt = open.removeValue(forKey: key) else { return }
            attempt.end = max(attempt.start, time)
            attempt.ending = ending
            attempts.append(attempt)
        }
        func endSession(of process: ClientProcess, at time: UInt64) {
            for key in open.keys where key.process == process { close(key, at: time, .processEnded) }
            if let lease = currentLease.removeValue(forKey: process) { sessions[lease]?.end = time }
        }
        for event in events {
            let process = ClientProcess(client: event.client, incarnation: event.incarnation)
            let key = Locker(process: process, locker: event.locker)
            lastTime[process] = event.time
            switch event.step {
            case .session(let lease):
                endSession(of: process, at: event.time)
                currentLease[process] = lease
                sessions[lease] = ClientSession(process: process, lease: lease, start: event.time, end: nil)
            case .lockStart:
                close(key, at: event.time, .abandoned)
                open[key] = LockAttempt(
                    process: process, locker: event.locker, lock: event.lock, lease: currentLease[process] ?? 0,
                    start: event.time, acquired: nil, end: .max, ending: .processEnded,
                    sequence: started[LockerOnLock(locker: key, lock: event.lock), default: 0])
                started[LockerOnLock(locker: key, lock: event.lock), default: 0] += 1
            case .acquired: open[key]?.acquired = event.time
            case .lockFailed: close(key, at: event.time, .failed)
            case .released: close(key, at: event.time, .released)
            case .stopped: endSession(of: process, at: event.time)
            default: break
            }
        }
        for process in Set(open.keys.map(\.process)).union(currentLease.keys) {
            if let exit = exits[process] {
                endSession(of: process, at: max(exit, lastTime[process] ?? 0))
            } else {
                for key in open.keys where key.process == process {
                    open[key]?.end = .max
                    attempts.append(open.removeValue(forKey: key)!)
                }
            }
        }
        attempts.sort { ($0.start, $0.process.client, $0.locker) < ($1.start, $1.process.client, $1.locker) }
        attemptsByTag = Dictionary(attempts.map { ($0.ownerTag, $0) }, uniquingKeysWith: { first, _ in first })
    }

    private var attemptsByTag: [String: LockAttempt] = [:]

    /// Whose `key` of `lock` is. A key whose value names an attempt (a run through the lock
    /// service) belongs to that attempt alone, its stretch standing for a session; any other key
    /// to the session of its lease, with that session's attempts on the lock. `nil` for a key
    /// no client accounts for.
    public func owner(of key: QueueKey, lock: Int) -> KeyOwner? {
        if let tag = key.owner, let attempt = attemptsByTag[tag], attempt.lock == lock {
            let session = ClientSession(
                process: attempt.process, lease: key.lease, start: attempt.start, end: attempt.end == .max ? nil : attempt.end)
            return KeyOwner(session: session, attempts: [attempt])
        }
        guard let session = sessions[key.lease] else { return nil }
        return KeyOwner(session: session, attempts: attempts.filter { $0.lease == key.lease && $0.lock == lock })
    }

    /// The pauses of `client` that overlap `range`.
    public func pauses(of client: Int, overlapping range: ClosedRange<UInt64>) -> [ClosedRange<UInt64>] {
        (pauses[client] ?? []).filter { $0.overlaps(range) }
    }
}
