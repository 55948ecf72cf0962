import Synchronization

/// Shared between an ``EtcdWatch`` and its iterator: whether the watch was cancelled, and how to
/// close the connection it currently streams from.
final class WatchControl: Sendable {
    private struct State {
        var isCancelled = false
        var closeCurrent: (@Sendable () -> Void)?
    }

    private let state = Mutex(State())

    var isCancelled: Bool { state.withLock { $0.isCancelled } }

    /// Records how to close the current connection; closes it at once if the watch was cancelled.
    func attach(_ close: @escaping @Sendable () -> Void) {
        let cancelled = state.withLock { state -> Bool in
            state.closeCurrent = close
            return state.isCancelled
        }
        if cancelled { close() }
    }

    /// Cancels the watch and closes its connection.
    func cancel() {
        let close = state.withLock { state -> (@Sendable () -> Void)? in
            state.isCancelled = true
            defer { state.closeCurrent = nil }
            return state.closeCurrent
        }
        close?()
    }
}
