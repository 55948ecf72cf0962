/// One write of the register as etcd's history has it.
public struct RegisterWrite: Sendable, Hashable {
    /// The revision that wrote it.
    public var revision: Int64
    /// The stored value, parsed (`nil` if it is not a register value).
    public var value: RegisterValue?
    /// The tokens (create revisions) of the keys that held at that revision by the recipe's
    /// rule (``VerifiedRecipe/holders(in:)``): for a mutex, the lowest create revision among the
    /// lock's keys; empty when no key existed.
    public var holderTokens: [Int64]

    /// The holder at the moment the write applied, for a recipe with one holder (a mutex): the
    /// first of ``holderTokens``. Setting it makes it the only holder.
    public var holderToken: Int64? {
        get { holderTokens.first }
        set { holderTokens = newValue.map { [$0] } ?? [] }
    }

    public init(revision: Int64, value: RegisterValue?, holderToken: Int64?) {
        self.init(revision: revision, value: value, holderTokens: holderToken.map { [$0] } ?? [])
    }

    public init(revision: Int64, value: RegisterValue?, holderTokens: [Int64]) {
        self.revision = revision
        self.value = value
        self.holderTokens = holderTokens
    }
}

/// Everything a verification run observed, for the checker.
public struct VerificationRecord: Sendable {
    /// Every client process's history, in arrival order.
    public var events: [HistoryEvent]
    /// The register's writes from etcd's history, by revision (`nil` if that history could
    /// not be read, for example because it was compacted).
    public var registerWrites: [RegisterWrite]?
    /// The register's final count (0 when it was never written).
    public var finalCount: Int
    /// Lock keys still present after every client stopped and every TTL ran out.
    public var leftoverKeys: [String]
    /// Leases the clients were granted that still exist after that.
    public var leftoverLeases: [Int64]
    /// Client processes that exited when nobody killed or stopped them, or that did not exit
    /// normally when stopped (one line each).
    public var unexpectedExits: [String]
    /// Client processes that stayed silent past every deadline while running (one line each).
    public var hangs: [String]
    /// When the nemesis paused each client slot (monotonic nanoseconds): operations that span a
    /// pause may outlast their deadlines.
    public var pauses: [Int: [ClosedRange<UInt64>]]
    /// The longest a `lock()` and a fenced write may take, when checked.
    public var limits: OperationLimits?
    /// Which of the run's locks the record is about.
    public var lock = 0
    /// The recipe the clients used: it decides which checks run and who holds a queue.
    public var recipe = VerifiedRecipe.mutex
    /// For each revision at which a client's fenced read was answered, the tokens that held by
    /// the recipe's rule (``RegisterWrite/holderTokens``); `nil` when they could not be read.
    public var readHolders: [Int64: [Int64]]? = [:]
    /// The lock's queue, read from etcd during the run.
    public var samples: [QueueSample] = []
    /// Every fault the nemesis injected, with when it began and was healed.
    public var faults: [InjectedFault] = []
    /// When each client process was seen to exit (killed or stopped).
    public var exits: [ClientProcess: UInt64] = [:]
    /// How long the liveness checks allow things to take (`nil`: not checked).
    public var liveness: LivenessRules?
    /// The run's start (monotonic nanoseconds), to print times relative to it.
    public var origin: UInt64 = 0

    public init(
        events: [HistoryEvent], registerWrites: [RegisterWrite]?, finalCount: Int, leftoverKeys: [String] = [],
        leftoverLeases: [Int64] = [], unexpectedExits: [String] = [], hangs: [String] = [],
        pauses: [Int: [ClosedRange<UInt64>]] = [:], limits: OperationLimits? = nil
    ) {
        self.pauses = pauses
        self.limits = limits
        self.events = events
        self.registerWrites = registerWrites
        self.finalCount = finalCount
        self.leftoverKeys = leftoverKeys
        self.leftoverLeases = leftoverLeases
        self.unexpectedExits = unexpectedExits
        self.hangs = hangs
    }
}

/// The outcome of one check.
public struct CheckOutcome: Sendable, Hashable {
    /// What the check asserts.
    public var name: String
    /// What broke it (empty when it passed); capped, with the total in `violationCount`.
    public var violations: [String]
    /// How many violations there were in all.
    public var violationCount: Int
    /// A one-line account of what was checked, for the report.
    public var detail: String

    /// Whether the check passed.
    public var passed: Bool { violationCount == 0 }
}

/// How long client operations may take: their deadlines plus slack for a loaded machine.
public struct OperationLimits: Sendable, Hashable {
    /// A `lock(timeout:)` call, withdrawal included, in nanoseconds.
    public var lock: UInt64
    /// A fenced write, in nanoseconds.
    public var write: UInt64

    public init(lock: Duration, write: Duration) {
        self.lock = Self.nanoseconds(lock)
        self.write = Self.nanoseconds(write)
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        UInt64(duration.components.seconds) * 1_000_000_000 + UInt64(duration.components.attoseconds / 1_000_000_000)
    }
}
