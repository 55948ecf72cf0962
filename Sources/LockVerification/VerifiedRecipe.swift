/// Which lock recipe a verification run exercises, and its admission rule as the checker
/// applies it to a queue read from etcd.
public enum VerifiedRecipe: Sendable, Hashable, CustomStringConvertible {
    /// `EtcdMutex`: the oldest key holds.
    case mutex
    /// `EtcdReadWriteLock`: a writer at the head holds alone; otherwise every reader ahead of
    /// the first writer holds.
    case readWriteLock
    /// `EtcdSemaphore` with `permits` permits: the `permits` oldest keys hold.
    case semaphore(permits: Int)

    /// Parses a `--recipe` value (`mutex`, `rwlock`, `semaphore`); `nil` for anything else.
    public init?(option: String, permits: Int) {
        switch option {
        case "mutex": self = .mutex
        case "rwlock": self = .readWriteLock
        case "semaphore": self = .semaphore(permits: permits)
        default: return nil
        }
    }

    /// The `--recipe` value.
    public var option: String {
        switch self {
        case .mutex: "mutex"
        case .readWriteLock: "rwlock"
        case .semaphore: "semaphore"
        }
    }

    public var description: String {
        switch self {
        case .mutex: "mutex"
        case .readWriteLock: "read/write lock"
        case .semaphore(let permits): "semaphore of \(permits) permits"
        }
    }

    /// Whether holders are permits of a semaphore.
    public var isSemaphore: Bool {
        if case .semaphore = self { return true }
        return false
    }

    /// How many holders may hold at once when they all hold the same way (writers, permits).
    public var capacity: Int {
        if case .semaphore(let permits) = self { return permits }
        return 1
    }

    /// The keys of `queue` that hold by this recipe's rule, oldest first.
    public func holders(in queue: [QueueKey]) -> [QueueKey] {
        let ordered = queue.sorted { $0.createRevision < $1.createRevision }
        switch self {
        case .mutex:
            return Array(ordered.prefix(1))
        case .semaphore(let permits):
            return Array(ordered.prefix(permits))
        case .readWriteLock:
            guard let head = ordered.first else { return [] }
            if head.role == .writer { return [head] }
            return Array(ordered.prefix { $0.role != .writer })
        }
    }
}
