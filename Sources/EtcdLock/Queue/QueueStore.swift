import Etcd

/// The etcd operations a lock queue uses: the seam through which tests interpose on them (to
/// make a race happen at an exact point, such as between a read and the watch that follows it).
/// ``EtcdClient`` is the store every public API uses.
protocol QueueStore: Sendable {
    func txn(_ txn: Txn, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult
    func txn(_ txn: Txn, coalescingGroup: String, retry: EtcdClient.RetryRule, timeout: Duration?) async throws -> TxnResult
    func range(_ request: RangeRequest, timeout: Duration?) async throws -> RangeResult
    func watch(_ ranges: [KeyRange], options: WatchOptions, timeout: Duration?) async throws -> EtcdWatch
}

extension EtcdClient: QueueStore {}
