/// A lease etcd granted.
public struct LeaseGrant: Sendable, Hashable {
    /// The cluster's state when it granted the lease.
    public var header: ResponseHeader
    /// The new lease.
    public var id: LeaseID
    /// The TTL etcd granted, in seconds (it may raise a TTL below its minimum).
    public var ttlSeconds: Int64
}

/// The answer to one keepalive: the lease's TTL was reset.
public struct LeaseKeepAlive: Sendable, Hashable {
    /// The cluster's state when it renewed the lease.
    public var header: ResponseHeader
    /// The renewed lease.
    public var id: LeaseID
    /// The TTL the lease was reset to, in seconds, counted from when etcd handled the request.
    public var ttlSeconds: Int64
}

/// What etcd knows about a lease.
public struct LeaseTimeToLive: Sendable, Hashable {
    /// The cluster's state when it answered.
    public var header: ResponseHeader
    /// The lease asked about.
    public var id: LeaseID
    /// Seconds left; -1 when the lease expired or never existed.
    public var ttlSeconds: Int64
    /// The TTL the lease was granted with, in seconds.
    public var grantedTTLSeconds: Int64
    /// The keys attached to the lease, when requested.
    public var keys: [EtcdKey]

    /// Whether the lease no longer exists.
    public var isExpired: Bool { ttlSeconds < 0 }
}

/// Every lease that exists.
public struct LeaseList: Sendable, Hashable {
    /// The cluster's state when it answered.
    public var header: ResponseHeader
    /// The leases.
    public var ids: [LeaseID]
}
