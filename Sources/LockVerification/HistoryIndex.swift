/// A read/write lock reader's fenced read that etcd answered, as its client reported it.
struct FencedRead: Sendable, Hashable {
    /// Who read (for reports).
    var process: ClientProcess
    /// The reader's token.
    var token: Int64
    /// The register's count the read returned.
    var value: Int
    /// The revision etcd answered at.
    var revision: Int64
    /// When the read was sent (monotonic nanoseconds).
    var sent: UInt64
}

/// The client histories, indexed for the checks.
struct HistoryIndex {
    /// When each write was sent, by operation.
    var attempted: [String: UInt64] = [:]
    /// When each token's holder acquired the lock.
    var acquired: [Int64: UInt64] = [:]
    /// Operations acknowledged as applied.
    var accepted: Set<String> = []
    /// Operations reported rejected by fencing or certainly not applied.
    var refused: Set<String> = []
    /// Operations with an unknown outcome.
    var unknown: Set<String> = []
    /// Fenced reads etcd answered, in the order the clients reported them.
    var reads: [FencedRead] = []
    /// Fenced reads refused because the reader's key was gone.
    var readsRejected = 0
    /// Untyped error messages.
    var untyped: [String] = []
    /// How many typed errors clients reported.
    var typedErrors = 0

    init(_ events: [HistoryEvent]) {
        struct Locker: Hashable {
            var process: ClientProcess
            var locker: Int
        }
        var readSent: [Locker: UInt64] = [:]
        for event in events {
            let process = ClientProcess(client: event.client, incarnation: event.incarnation)
            switch event.step {
            case .acquired(let token): acquired[token] = event.time
            case .writeStart(_, _, let operation): attempted[operation] = event.time
            case .writeAccepted(_, let operation): accepted.insert(operation)
            case .writeRejected(_, let operation): refused.insert(operation)
            case .writeFailed(_, let operation, _): refused.insert(operation); typedErrors += 1
            case .writeUnknown(_, let operation, _): unknown.insert(operation); typedErrors += 1
            case .readSent: readSent[Locker(process: process, locker: event.locker)] = event.time
            case .readAccepted(let token, let value, let revision):
                let sent = readSent.removeValue(forKey: Locker(process: process, locker: event.locker)) ?? event.time
                reads.append(FencedRead(process: process, token: token, value: value, revision: revision, sent: sent))
            case .readRejected: readsRejected += 1
            case .lockFailed, .releaseFailed, .error: typedErrors += 1
            case .untypedError(let message): untyped.append("client \(event.client).\(event.incarnation): \(message)")
            case .session, .lockStart, .read, .released, .stopped: break
            }
        }
    }
}
