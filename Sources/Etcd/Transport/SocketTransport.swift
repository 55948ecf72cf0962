/// The production ``HTTPTransport``: HTTP/1.1 over POSIX sockets driven by one ``IOLoop``.
final class SocketTransport: HTTPTransport {
    private let loop: IOLoop

    /// Creates the transport and starts its I/O thread.
    init(
        endpoints: [TransportEndpoint], maximumConnectionsPerEndpoint: Int,
        liveness: LivenessCheck?
    ) throws {
        loop = try IOLoop(
            endpoints: endpoints, maximumConnectionsPerEndpoint: maximumConnectionsPerEndpoint, liveness: liveness)
    }

    deinit {
        loop.requestShutdown()
    }

    func send(
        _ request: HTTPRequest, to endpoint: Int, deadline: ContinuousClock.Instant,
        responseStartDeadline: ContinuousClock.Instant?
    ) async throws -> HTTPResponse {
        let id = loop.makeExchangeID()
        let cancellation = CancellationFlag()
        let bytes = request.serialized(host: loop.hostHeaders[endpoint])
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                loop.submit(
                    ExchangeRequest(
                        id: id, endpoint: endpoint, bytes: bytes, deadline: deadline,
                        responseStartDeadline: responseStartDeadline, responder: .unary(continuation),
                        cancellation: cancellation))
            }
        } onCancel: {
            cancellation.raise()
            loop.cancel(id)
        }
    }

    func openStream(_ request: HTTPRequest, to endpoint: Int, deadline: ContinuousClock.Instant) -> StreamHandle {
        let id = loop.makeExchangeID()
        let cancellation = CancellationFlag()
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: StreamPart.self, throwing: (any Error).self)
        let loop = self.loop
        continuation.onTermination = { _ in
            cancellation.raise()
            loop.cancel(id)
        }
        loop.submit(
            ExchangeRequest(
                id: id, endpoint: endpoint, bytes: request.serialized(host: loop.hostHeaders[endpoint]),
                deadline: deadline, responseStartDeadline: nil, responder: .stream(continuation),
                cancellation: cancellation))
        return StreamHandle(parts: stream) {
            cancellation.raise()
            loop.cancel(id)
        }
    }

    func shutdown() async {
        await loop.shutdown()
    }
}
