/// Why the transport could not complete an exchange.
///
/// `requestMayHaveBeenSent` is what decides whether a write may be retried: when it is
/// `false`, etcd provably never received the request.
struct TransportError: Error, Sendable, CustomStringConvertible {
    /// The kind of failure.
    enum Kind: Sendable, Equatable {
        /// The TCP connection could not be established (refused, unreachable).
        case connectFailed
        /// The connection broke or closed before the response was complete.
        case connectionClosed
        /// The deadline passed before the response (or, for a stream, its first message) arrived.
        case timedOut
        /// TLS failed: the member's certificate did not verify, the handshake or a record failed,
        /// or the member refused our certificate. Never retried in plaintext.
        case tlsFailed
        /// The peer sent something that is not HTTP/1.1 as expected.
        case malformedResponse
        /// The caller cancelled.
        case cancelled
        /// The transport was shut down.
        case shutDown
    }

    /// The kind of failure.
    var kind: Kind
    /// Whether any byte of the request reached the socket; `false` proves etcd never saw it.
    var requestMayHaveBeenSent: Bool
    /// Details for humans (errno text, parser message).
    var detail: String

    var description: String { "\(kind): \(detail)" }
}

/// One piece of a streamed response.
enum StreamPart: Sendable {
    /// The status line and headers; always the first part.
    case head(HTTPResponseHead)
    /// One newline-delimited message of the body, without the newline.
    case line([UInt8])
}
