/// A dependency-free structured logger the client writes to; the default discards everything.
///
/// Bridge it to your logging system with a sink:
/// ```swift
/// let logger = EtcdLogger(level: .debug) { event in myLogger.log("\(event.message) \(event.metadata)") }
/// ```
public struct EtcdLogger: Sendable {
    /// How much detail an event carries; the library logs at these levels only.
    public enum Level: Int, Sendable, Comparable, CustomStringConvertible {
        /// Per-request detail.
        case trace
        /// Decisions worth knowing when debugging (a failover, a watch resuming).
        case debug
        /// Things that cannot be reported by throwing (a retry that succeeded).
        case info

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs.rawValue < rhs.rawValue }

        public var description: String {
            switch self {
            case .trace: "trace"
            case .debug: "debug"
            case .info: "info"
            }
        }
    }

    /// One log event.
    public struct Event: Sendable {
        /// Its level.
        public var level: Level
        /// What happened, for humans.
        public var message: String
        /// Structured context (endpoint, attempt, …).
        public var metadata: [String: String]
        /// The source file (`#fileID`) that logged it.
        public var file: String
        /// The source line that logged it.
        public var line: UInt
    }

    /// The least severe level that reaches the sink.
    public var level: Level
    private let sink: (@Sendable (Event) -> Void)?

    /// A logger that sends events at `level` or above to `sink`.
    public init(level: Level, sink: @escaping @Sendable (Event) -> Void) {
        self.level = level
        self.sink = sink
    }

    private init() {
        level = .info
        sink = nil
    }

    /// A logger that discards everything.
    public static let disabled = EtcdLogger()

    /// Logs `message` if `level` is enabled; the message is built only then.
    func log(
        _ level: Level, _ message: @autoclosure () -> String, _ metadata: @autoclosure () -> [String: String] = [:],
        file: String = #fileID, line: UInt = #line
    ) {
        guard let sink, level >= self.level else { return }
        sink(Event(level: level, message: message(), metadata: metadata(), file: file, line: line))
    }
}
