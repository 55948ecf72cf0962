extension EtcdClient {
    /// Reads a key or range.
    ///
    /// Reads are retried on another member after a connection failure, within the deadline.
    ///
    /// - Parameter timeout: the call's deadline; the configured ``Configuration/requestTimeout`` when `nil`.
    /// - Throws: ``EtcdError`` `.invalidArgument` (empty key), `.compacted` / `.futureRevision`
    ///   (a `revision` outside the store's history), `.permissionDenied`, `.unavailable`,
    ///   `.timeout`, `.cancelled`.
    public func range(_ request: RangeRequest, timeout: Duration? = nil) async throws -> RangeResult {
        let wire = try request.validated().wire
        let response = try await call(
            "/v3/kv/range", wire, as: WireRangeResponse.self, retry: .idempotent, timeout: timeout)
        return RangeResult(wire: response)
    }

    /// Writes `value` to `key`, optionally attached to a lease.
    ///
    /// On a connection failure the put is retried only if etcd provably never received it; when the
    /// outcome is unknown the error says so with ``EtcdError/mayHaveBeenApplied``. Cancelling
    /// after the request was sent cannot undo it.
    ///
    /// - Throws: ``EtcdError`` `.invalidArgument`, `.leaseNotFound` (the lease is gone),
    ///   `.permissionDenied`, `.unavailable`, `.timeout`, `.cancelled`.
    public func put(
        _ key: EtcdKey, value: some Sequence<UInt8>, lease: LeaseID? = nil, returnPrevious: Bool = false,
        timeout: Duration? = nil
    ) async throws -> PutResult {
        let request = PutRequest(key, value: value, lease: lease, returnPrevious: returnPrevious)
        try request.validate()
        let response = try await call(
            "/v3/kv/put", request.wire, as: WirePutResponse.self, retry: .onlyIfNotSent, timeout: timeout)
        return PutResult(wire: response)
    }

    /// Deletes a key or range.
    ///
    /// Retried after a connection failure (deleting twice leaves the same state; the second answer
    /// may then count fewer deletions).
    ///
    /// - Throws: ``EtcdError`` `.invalidArgument`, `.permissionDenied`, `.unavailable`, `.timeout`, `.cancelled`.
    public func delete(_ keys: KeyRange, returnPrevious: Bool = false, timeout: Duration? = nil) async throws
        -> DeleteResult
    {
        try keys.validate()
        let request = DeleteRequest(keys, returnPrevious: returnPrevious)
        let response = try await call(
            "/v3/kv/deleterange", request.wire, as: WireDeleteRangeResponse.self, retry: .idempotent,
            timeout: timeout)
        return DeleteResult(wire: response)
    }

    /// Runs a transaction atomically.
    ///
    /// - Parameter retry: whether the transaction may be sent again when its outcome is unknown
    ///   (`.onlyIfNotSent` by default; pass `.idempotent` only when a second application is harmless,
    ///   for example because its compares fail the second time).
    /// - Throws: ``EtcdError`` `.invalidArgument` (empty key, a key written twice, too many
    ///   operations), `.leaseNotFound`, `.permissionDenied`, `.unavailable`, `.timeout`, `.cancelled`.
    public func txn(_ txn: Txn, retry: RetryRule = .onlyIfNotSent, timeout: Duration? = nil) async throws -> TxnResult {
        try txn.validate()
        let response = try await call("/v3/kv/txn", txn.wire, as: WireTxnResponse.self, retry: retry, timeout: timeout)
        return try TxnResult(wire: response)
    }

    /// Runs a transaction that may travel together with others under load.
    ///
    /// The result is the one `txn` would get alone. When several coalescible transactions wait
    /// (more than ``Configuration/TxnCoalescing/maximumInFlight`` in flight), compatible ones are
    /// merged into one request: their compares joined, their success operations in sequence.
    /// If the merged compare fails, each is sent again alone, with its own else branch. Merged
    /// transactions share one revision, so transactions whose relative order matters must share
    /// a `coalescingGroup` (they are then never merged together). Only transactions whose
    /// success branch writes single keys and nests no transaction are merged, and never two
    /// that write a key the other compares or writes; others are sent alone, as by
    /// ``txn(_:retry:timeout:)``.
    ///
    /// - Parameters:
    ///   - coalescingGroup: transactions of one group are never merged with each other (for
    ///     example keys of one lock queue, whose create revisions must differ).
    /// - Throws: as ``txn(_:retry:timeout:)``; a merged request's failure is every member's.
    public func txn(_ txn: Txn, coalescingGroup: String, retry: RetryRule = .onlyIfNotSent, timeout: Duration? = nil)
        async throws -> TxnResult
    {
        guard let coalescer else { return try await self.txn(txn, retry: retry, timeout: timeout) }
        try txn.validate()
        let deadline = try deadline(for: timeout)
        return try await coalescer.submit(txn, group: coalescingGroup, retry: retry, deadline: deadline) {
            [self] txn, retry, deadline in
            try await self.txn(txn, retry: retry, timeout: max(.milliseconds(1), ContinuousClock.now.duration(to: deadline)))
        }
    }

    /// Discards the key space's history before `revision`; watches and reads at older revisions
    /// then fail with `.compacted`.
    ///
    /// - Parameter physical: wait until the space is actually reclaimed.
    /// - Throws: ``EtcdError`` `.compacted` (already compacted past it), `.futureRevision`,
    ///   `.unavailable`, `.timeout`, `.cancelled`.
    public func compact(to revision: Revision, physical: Bool = false, timeout: Duration? = nil) async throws
        -> ResponseHeader
    {
        let request = WireCompactionRequest(revision: WireInt64(revision.rawValue), physical: physical ? true : nil)
        let response = try await call(
            "/v3/kv/compaction", request, as: WireCompactionResponse.self, retry: .idempotent, timeout: timeout)
        return response.header.model
    }
}
