/// A live watch: an `AsyncSequence` of every change to a key or range, in revision order.
///
/// ```swift
/// let watch = try await client.watch(.prefix("config/"))
/// for try await event in watch {
///     print(event.kind, event.keyValue.key, event.revision)
/// }
/// ```
///
/// When the member it streams from fails, iteration resumes on another member from the revision
/// after the last one received, so no event is lost or repeated. Iterate it from one task.
/// Ends (returns `nil`) after ``cancel()`` or when the iterating task is cancelled; dropping it
/// closes its connection.
public struct EtcdWatch: AsyncSequence, Sendable {
    public typealias Element = WatchEvent

    /// The watched keys or ranges.
    public let ranges: [KeyRange]
    /// The first revision the watch reports: changes at this revision and later arrive in order.
    public let startRevision: Revision
    let options: WatchOptions
    let client: EtcdClient
    let connection: WatchConnection
    let control: WatchControl

    /// Stops the watch and closes its connection; iteration then ends.
    public func cancel() {
        control.cancel()
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(watch: self)
    }

    /// Iterates a watch's events, reconnecting as needed.
    public struct Iterator: AsyncIteratorProtocol {
        private let watch: EtcdWatch
        private var parts: AsyncThrowingStream<StreamPart, any Error>.AsyncIterator
        private var endpoint: Int
        private var nextRevision: Revision
        private var buffered: [WatchEvent] = []
        private var position = 0

        init(watch: EtcdWatch) {
            self.watch = watch
            parts = watch.connection.parts.makeAsyncIterator()
            endpoint = watch.connection.endpoint
            nextRevision = watch.startRevision
            buffered = watch.connection.earlyEvents
            if let last = buffered.last { nextRevision = Swift.max(nextRevision, last.revision.next) }
        }

        /// The next event, waiting for it as long as it takes.
        ///
        /// - Throws: ``EtcdError`` `.compacted` (with ``EtcdError/compactRevision``) when resuming
        ///   needs history etcd has discarded, `.watchCanceled`, `.permissionDenied`, or
        ///   `.unavailable` / `.timeout` when no member can resume it within the request timeout.
        public mutating func next() async throws -> WatchEvent? {
            while true {
                if position < buffered.count {
                    defer { position += 1 }
                    return buffered[position]
                }
                if watch.control.isCancelled || Task.isCancelled { return nil }
                let part: StreamPart?
                do {
                    part = try await parts.next()
                } catch let error as TransportError {
                    if error.kind == .cancelled || watch.control.isCancelled { return nil }
                    try await reconnect(because: "\(error)")
                    continue
                }
                guard let part else {
                    if watch.control.isCancelled || Task.isCancelled { return nil }
                    try await reconnect(because: "the member ended the stream")
                    continue
                }
                guard case .line(let line) = part else { continue }
                switch try WatchMessage(line: line) {
                case .events(let events):
                    if let last = events.last { nextRevision = Swift.max(nextRevision, last.revision.next) }
                    buffered = events
                    position = 0
                case .progress(let revision), .created(let revision):
                    nextRevision = Swift.max(nextRevision, revision.next)
                case .failed(let error):
                    guard error.code == .unavailable || error.code == .noLeader else { throw error }
                    try await reconnect(because: "\(error)")
                }
            }
        }

        private mutating func reconnect(because reason: String) async throws {
            let client = watch.client
            client.selector.markFailed(endpoint)
            client.configuration.logger.log(
                .debug, "watch of \(watch.ranges) resuming at revision \(nextRevision): \(reason)")
            let connection = try await client.openWatchConnection(
                watch.ranges, options: watch.options, startRevision: nextRevision, control: watch.control,
                deadline: try client.deadline(for: nil))
            parts = connection.parts.makeAsyncIterator()
            endpoint = connection.endpoint
            watch.control.attach(connection.cancel)
            // Events that arrived between the new stream's `created` replies (several ranges) come
            // first; dropping them would lose, say, the deletion a lock waiter waits for.
            buffered = connection.earlyEvents.filter { $0.revision >= nextRevision }
            position = 0
            if let last = buffered.last { nextRevision = Swift.max(nextRevision, last.revision.next) }
        }
    }
}
