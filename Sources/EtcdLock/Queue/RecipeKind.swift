/// The recipes that queue under `/etcdlock/<namespace>/<kind>/<name>/`: each kind has its own
/// key space, so a mutex and a semaphore of one name are unrelated.
enum RecipeKind: String, Sendable {
    case mutex = "lock"
    case election
    case readWriteLock = "rwlock"
    case semaphore

    /// Whether a session has one key per queue (`<prefix><lease-hex>`, the layout of etcd's own
    /// recipes) and its tasks take turns on it locally, or one key per acquisition
    /// (`<prefix>[<part>/]<lease-hex>-<n>`), so that one session can hold several entries at once
    /// (readers, permits).
    var keyPerSession: Bool {
        switch self {
        case .mutex, .election: true
        case .readWriteLock, .semaphore: false
        }
    }
}
