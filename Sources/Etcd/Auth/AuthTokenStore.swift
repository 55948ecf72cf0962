import Synchronization

/// The current auth token, shared by every call of one client.
final class AuthTokenStore: Sendable {
    private let token = Mutex<String?>(nil)

    /// The cached token, if any.
    var current: String? { token.withLock { $0 } }

    /// Caches `newToken`.
    func store(_ newToken: String) { token.withLock { $0 = newToken } }

    /// Forgets `staleToken` if it is still the cached one (another call may have refreshed it).
    func invalidate(_ staleToken: String?) {
        token.withLock { current in
            if current == staleToken { current = nil }
        }
    }
}
