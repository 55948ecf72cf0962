extension EtcdError {
    /// Whether the error says etcd is briefly out of reach (no member answers, no leader, no
    /// answer in time) rather than that the request was wrong: waiting and trying again may
    /// succeed. What waiters and observers ride out instead of failing.
    public var isOutage: Bool {
        [.unavailable, .noLeader, .timeout].contains(code)
    }
}
