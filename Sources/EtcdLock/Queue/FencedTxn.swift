import Etcd

extension EtcdClient {
    /// Runs `txn` only if `key` still has create revision `token`, atomically: `txn` is nested in
    /// a transaction whose compare is that create revision, so a stale holder's write can never
    /// land. The one definition of fencing, for guards and handles alike.
    ///
    /// - Returns: `txn`'s own result, or `nil` when the key is no longer that holder's.
    func fencedTxn(_ txn: Txn, key: EtcdKey, token: FencingToken, timeout: Duration?) async throws -> TxnResult? {
        let guarded = Txn(if: [.createRevision(of: key, .equal, token.revision)], then: [.txn(txn)])
        let result = try await self.txn(guarded, timeout: timeout)
        guard result.succeeded, case .txn(let inner) = result.responses.first else { return nil }
        return inner
    }
}
