#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// What a verification client did, one step: the unit of its history.
///
/// Clients print events as lines (`<monotonic-ns> <kind> <fields>`) and the coordinator parses
/// them back, so the format is defined once, here.
public enum ClientStep: Sendable, Hashable {
    /// A session (lease) was granted.
    case session(lease: Int64)
    /// `lock()` was called.
    case lockStart
    /// `lock()` returned: the client holds the lock with this fencing token.
    case acquired(token: Int64)
    /// `lock()` failed with a typed error (its code).
    case lockFailed(code: String)
    /// The register was read while holding `token`: it held `value`.
    case read(token: Int64, value: Int)
    /// The fenced write of `value` under `token` was sent, identified by `operation`.
    case writeStart(token: Int64, value: Int, operation: String)
    /// etcd applied the write.
    case writeAccepted(token: Int64, operation: String)
    /// etcd rejected the write: `token` no longer held the lock (fencing at work).
    case writeRejected(token: Int64, operation: String)
    /// The write failed and certainly was not applied.
    case writeFailed(token: Int64, operation: String, code: String)
    /// The write failed and may or may not have been applied.
    case writeUnknown(token: Int64, operation: String, code: String)
    /// A fenced read under `token` was sent (a read/write lock's reader: a txn that reads the
    /// register only if the reader's key still has create revision `token`).
    case readSent(token: Int64)
    /// The fenced read was answered: at `revision` the reader's key was there and the register
    /// held `value`.
    case readAccepted(token: Int64, value: Int, revision: Int64)
    /// The fenced read was refused: the reader's key was gone.
    case readRejected(token: Int64)
    /// `unlock()` succeeded.
    case released(token: Int64)
    /// `unlock()` failed with a typed error.
    case releaseFailed(token: Int64, code: String)
    /// Some other call failed with a typed error (`EtcdError` or `LockError`).
    case error(code: String)
    /// A call failed with an error that is not one of the library's typed errors.
    case untypedError(message: String)
    /// The client was told to stop and is exiting normally.
    case stopped

    /// Whether the step concerns the whole process rather than one lock (a new session, the
    /// end), so every lock's record needs it.
    public var concernsEveryLock: Bool {
        switch self {
        case .session, .stopped: true
        default: false
        }
    }

    /// The step as the fields of a history line (without the time).
    public var fields: [String] {
        switch self {
        case .session(let lease): ["session", String(lease)]
        case .lockStart: ["lock-start"]
        case .acquired(let token): ["acquired", String(token)]
        case .lockFailed(let code): ["lock-failed", code]
        case .read(let token, let value): ["read", String(token), String(value)]
        case .writeStart(let token, let value, let operation): ["write-start", String(token), String(value), operation]
        case .writeAccepted(let token, let operation): ["write-accepted", String(token), operation]
        case .writeRejected(let token, let operation): ["write-rejected", String(token), operation]
        case .writeFailed(let token, let operation, let code): ["write-failed", String(token), operation, code]
        case .writeUnknown(let token, let operation, let code): ["write-unknown", String(token), operation, code]
        case .readSent(let token): ["read-sent", String(token)]
        case .readAccepted(let token, let value, let revision): ["read-accepted", String(token), String(value), String(revision)]
        case .readRejected(let token): ["read-rejected", String(token)]
        case .released(let token): ["released", String(token)]
        case .releaseFailed(let token, let code): ["release-failed", String(token), code]
        case .error(let code): ["error", code]
        case .untypedError(let message): ["untyped-error", message]
        case .stopped: ["stopped"]
        }
    }

    /// Parses the fields of a history line; `nil` if they are not a step.
    public init?(fields: [Substring]) {
        guard let kind = fields.first else { return nil }
        let rest = fields.dropFirst().map(String.init)
        func int64(_ index: Int) -> Int64? { rest.indices.contains(index) ? Int64(rest[index]) : nil }
        func text(_ index: Int) -> String? { rest.indices.contains(index) ? rest[index] : nil }
        switch kind {
        case "session": guard let lease = int64(0) else { return nil }; self = .session(lease: lease)
        case "lock-start": self = .lockStart
        case "acquired": guard let token = int64(0) else { return nil }; self = .acquired(token: token)
        case "lock-failed": guard let code = text(0) else { return nil }; self = .lockFailed(code: code)
        case "read":
            guard let token = int64(0), let value = int64(1) else { return nil }
            self = .read(token: token, value: Int(value))
        case "write-start":
            guard let token = int64(0), let value = int64(1), let operation = text(2) else { return nil }
            self = .writeStart(token: token, value: Int(value), operation: operation)
        case "write-accepted":
            guard let token = int64(0), let operation = text(1) else { return nil }
            self = .writeAccepted(token: token, operation: operation)
        case "write-rejected":
            guard let token = int64(0), let operation = text(1) else { return nil }
            self = .writeRejected(token: token, operation: operation)
        case "write-failed":
            guard let token = int64(0), let operation = text(1), let code = text(2) else { return nil }
            self = .writeFailed(token: token, operation: operation, code: code)
        case "write-unknown":
            guard let token = int64(0), let operation = text(1), let code = text(2) else { return nil }
            self = .writeUnknown(token: token, operation: operation, code: code)
        case "read-sent": guard let token = int64(0) else { return nil }; self = .readSent(token: token)
        case "read-accepted":
            guard let token = int64(0), let value = int64(1), let revision = int64(2) else { return nil }
            self = .readAccepted(token: token, value: Int(value), revision: revision)
        case "read-rejected": guard let token = int64(0) else { return nil }; self = .readRejected(token: token)
        case "released": guard let token = int64(0) else { return nil }; self = .released(token: token)
        case "release-failed":
            guard let token = int64(0), let code = text(1) else { return nil }
            self = .releaseFailed(token: token, code: code)
        case "error": guard let code = text(0) else { return nil }; self = .error(code: code)
        case "untyped-error": self = .untypedError(message: rest.joined(separator: " "))
        case "stopped": self = .stopped
        default: return nil
        }
    }
}

/// One step of one client process, with the time it happened.
public struct HistoryEvent: Sendable, Hashable {
    /// The client slot (0-based).
    public var client: Int
    /// Which process of that slot (a killed client is replaced by the next incarnation).
    public var incarnation: Int
    /// When, in nanoseconds of the system's monotonic clock (comparable across processes).
    public var time: UInt64
    /// Which of the run's locks (and registers) the step concerns (0 when there is one, and
    /// for steps that concern no lock in particular).
    public var lock: Int
    /// Which of the process's concurrent lockers took the step (0 when there is one).
    public var locker: Int
    /// What happened.
    public var step: ClientStep

    public init(client: Int, incarnation: Int, time: UInt64, lock: Int = 0, locker: Int = 0, step: ClientStep) {
        self.client = client
        self.incarnation = incarnation
        self.time = time
        self.lock = lock
        self.locker = locker
        self.step = step
    }

    /// Parses a line a client printed; `nil` if it is not a history line.
    public init?(client: Int, incarnation: Int, line: String) {
        var fields = line.split(separator: " ")[...]
        guard fields.count >= 2, let time = UInt64(fields.removeFirst()) else { return nil }
        var lock = 0
        var locker = 0
        if let first = fields.first, first.hasPrefix("@") {
            let parts = first.dropFirst().split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count <= 2, let index = Int(parts[0]), index >= 0 else { return nil }
            lock = index
            if parts.count == 2 {
                guard let number = Int(parts[1]), number >= 0 else { return nil }
                locker = number
            }
            fields.removeFirst()
        }
        guard let step = ClientStep(fields: Array(fields)) else { return nil }
        self.init(client: client, incarnation: incarnation, time: time, lock: lock, locker: locker, step: step)
    }

    /// The line a client's locker prints for `step` on lock `lock` now.
    public static func line(_ step: ClientStep, lock: Int = 0, locker: Int = 0, at time: UInt64 = MonotonicTime.now())
        -> String
    {
        let place = lock == 0 && locker == 0 ? [] : ["@\(lock)" + (locker == 0 ? "" : ":\(locker)")]
        return ([String(time)] + place + step.fields).joined(separator: " ")
    }
}

/// The system-wide monotonic clock, in nanoseconds: the same clock in every process of the
/// machine, so histories of different processes can be ordered in real time.
public enum MonotonicTime {
    /// Now.
    public static func now() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}

/// The register's value as the clients write it: `<count> <token> <operation>`, so etcd's own
/// history of the key says which write of which holder produced each value.
///
/// A semaphore's holders share the register as a log rather than a counter: `count` is the
/// write's place in its holder's section (1 on entering, 2 before leaving).
public struct RegisterValue: Sendable, Hashable {
    /// The number of increments so far (for a semaphore: 1 on entering a section, 2 before leaving).
    public var count: Int
    /// The fencing token the write was made under.
    public var token: Int64
    /// The writing client's operation ID.
    public var operation: String

    public init(count: Int, token: Int64, operation: String) {
        self.count = count
        self.token = token
        self.operation = operation
    }

    /// Parses a stored value; an absent or empty register is count 0.
    public init?(parsing text: String) {
        let fields = text.split(separator: " ")
        guard fields.count == 3, let count = Int(fields[0]), let token = Int64(fields[1]) else { return nil }
        self.init(count: count, token: token, operation: String(fields[2]))
    }

    /// The stored form.
    public var text: String { "\(count) \(token) \(operation)" }
}
