/// Why a session ended; once lost, a session never comes back.
public enum SessionLoss: Sendable, Hashable, CustomStringConvertible {
    /// etcd reported the lease gone (it expired or was revoked by someone else).
    case leaseExpired
    /// No keepalive succeeded before the conservative local deadline: etcd may already have
    /// expired the lease, so nothing held under it can be trusted.
    case keepAliveDeadlinePassed
    /// The session's owner closed it (its scope ended).
    case closed

    public var description: String {
        switch self {
        case .leaseExpired: "the lease expired or was revoked"
        case .keepAliveDeadlinePassed: "no keepalive succeeded before the lease's deadline"
        case .closed: "the session was closed"
        }
    }
}
