/// How the client sends HTTP/1.1 requests to etcd members.
///
/// Internal so that tests can inject faults and another platform could provide its own.
/// Endpoints are addressed by their index in the configuration.
protocol HTTPTransport: Sendable {
    /// Sends one request and returns the whole response.
    ///
    /// Throws ``TransportError`` `.timedOut` when no complete response arrived before `deadline`,
    /// or when the response had not begun by `responseStartDeadline` (a member that accepts
    /// connections but does not answer: paused, partitioned, overloaded); `.cancelled` when the
    /// caller cancelled.
    func send(
        _ request: HTTPRequest, to endpoint: Int, deadline: ContinuousClock.Instant,
        responseStartDeadline: ContinuousClock.Instant?
    ) async throws -> HTTPResponse

    /// Opens a streaming request on a connection of its own.
    ///
    /// The stream yields the head, then each newline-delimited message. `deadline` bounds the wait
    /// for the first message only. Dropping or cancelling the stream closes the connection.
    func openStream(_ request: HTTPRequest, to endpoint: Int, deadline: ContinuousClock.Instant) -> StreamHandle

    /// Fails every exchange in flight, closes every connection and stops the I/O thread.
    func shutdown() async
}

/// A stream in progress: its parts, and a way to close it from any task.
struct StreamHandle: Sendable {
    /// The head, then each newline-delimited message; ends when the connection closes.
    let parts: AsyncThrowingStream<StreamPart, any Error>
    /// Closes the connection; the parts then finish without error.
    let cancel: @Sendable () -> Void
}

/// How the transport checks that members serving streams are still alive.
struct LivenessCheck: Sendable {
    /// How long streams on a member may stay silent before the member is probed.
    var interval: Duration
    /// How long the probe may take before the member's streams are failed.
    var timeout: Duration
}
