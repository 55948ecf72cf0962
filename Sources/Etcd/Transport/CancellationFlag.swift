import Synchronization

/// A flag the caller raises when it cancels an exchange, read by the I/O thread.
///
/// The I/O thread checks it when the exchange starts, so a cancellation that arrives before the
/// exchange reached the thread still wins, without the thread remembering unknown IDs.
final class CancellationFlag: Sendable {
    private let raised = Atomic<Bool>(false)

    /// Whether the caller cancelled.
    var isRaised: Bool { raised.load(ordering: .acquiring) }

    /// Marks the exchange cancelled.
    func raise() { raised.store(true, ordering: .releasing) }
}
