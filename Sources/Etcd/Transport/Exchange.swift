/// Who waits for an exchange's result.
enum ExchangeResponder: Sendable {
    /// A unary call suspended until the whole response arrives.
    case unary(CheckedContinuation<HTTPResponse, any Error>)
    /// A stream consumer fed part by part.
    case stream(AsyncThrowingStream<StreamPart, any Error>.Continuation)
    /// The I/O loop's own liveness probe of a member; the loop handles the outcome.
    case probe
}

/// What a caller hands to the I/O thread: one request for one endpoint.
struct ExchangeRequest: Sendable {
    let id: UInt64
    let endpoint: Int
    let bytes: [UInt8]
    let deadline: ContinuousClock.Instant
    /// When the response must have begun (its head arrived), if sooner than `deadline`.
    let responseStartDeadline: ContinuousClock.Instant?
    let responder: ExchangeResponder
    let cancellation: CancellationFlag
}

/// An exchange in progress. Lives on the I/O thread only.
final class Exchange {
    let request: ExchangeRequest
    /// Bytes of the request the kernel accepted so far.
    var bytesWritten = 0
    var head: HTTPResponseHead?
    var body: [UInt8] = []
    var framer = LineFramer()
    /// Whether a stream delivered its first message (its deadline no longer applies).
    var hasDeliveredLine = false
    var isFinished = false
    /// The connection serving it, once one is assigned.
    var connection: Connection?
    /// For a probe: told whether the member answered.
    var onProbeOutcome: ((Bool) -> Void)?

    /// The most bytes a unary response body may hold.
    static let maximumBodyBytes = 64 * 1024 * 1024

    init(_ request: ExchangeRequest) {
        self.request = request
    }

    var isStream: Bool {
        if case .stream = request.responder { return true }
        return false
    }

    /// Whether the deadline still applies (streams stop counting once a message arrived).
    var isDeadlineActive: Bool { !isFinished && !(isStream && hasDeliveredLine) }

    /// The instant at which the exchange fails if still unanswered: the response-start deadline
    /// until the head arrives, then the whole deadline.
    var effectiveDeadline: ContinuousClock.Instant {
        guard head == nil, let start = request.responseStartDeadline else { return request.deadline }
        return min(start, request.deadline)
    }

    /// Handles one piece of parsed response.
    func receive(_ output: HTTPResponseParser.Output) throws {
        switch output {
        case .head(let head):
            self.head = head
            if case .stream(let continuation) = request.responder { continuation.yield(.head(head)) }
        case .body(let bytes):
            switch request.responder {
            case .unary:
                guard body.count + bytes.count <= Self.maximumBodyBytes else {
                    throw HTTPParseError("response body larger than \(Self.maximumBodyBytes) bytes")
                }
                body.append(contentsOf: bytes)
            case .stream(let continuation):
                try framer.append(bytes) { line in
                    hasDeliveredLine = true
                    continuation.yield(.line(line))
                }
            case .probe:
                break
            }
        case .end:
            break
        }
    }

    /// Delivers the complete response. Call once the parser reported the end.
    func succeed() {
        guard !isFinished else { return }
        isFinished = true
        switch request.responder {
        case .unary(let continuation):
            let head = self.head ?? HTTPResponseHead(status: 0, headers: [])
            continuation.resume(returning: HTTPResponse(head: head, body: body))
        case .stream(let continuation):
            if let last = framer.finish() { continuation.yield(.line(last)) }
            continuation.finish()
        case .probe:
            // Any complete answer proves the member alive, whatever its status.
            onProbeOutcome?(true)
        }
    }

    /// Ends the exchange with `error` (a stream cancelled by its consumer just finishes).
    func fail(_ error: TransportError) {
        guard !isFinished else { return }
        isFinished = true
        switch request.responder {
        case .unary(let continuation):
            continuation.resume(throwing: error)
        case .stream(let continuation):
            if error.kind == .cancelled {
                continuation.finish()
            } else {
                continuation.finish(throwing: error)
            }
        case .probe:
            onProbeOutcome?(error.kind == .cancelled || error.kind == .shutDown)
        }
    }

    /// A failure of `kind`, saying whether etcd may have seen the request.
    func error(_ kind: TransportError.Kind, _ detail: String) -> TransportError {
        TransportError(kind: kind, requestMayHaveBeenSent: bytesWritten > 0, detail: detail)
    }
}
