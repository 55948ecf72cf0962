/// Runs `operation` to completion even if the calling task is cancelled, and returns its result.
///
/// For clean-up and releases: abandoning one midway would leave a key in etcd that blocks others
/// until its session ends. `operation` must bound itself (every etcd call has a deadline), so the
/// caller is never held for long. The task is awaited here, so it never outlives the call.
func finishEvenIfCancelled<Value: Sendable>(_ operation: @escaping @Sendable () async throws -> Value) async throws -> Value {
    try await Task { try await operation() }.value
}

/// ``finishEvenIfCancelled(_:)`` for an operation that cannot fail.
func finishEvenIfCancelled<Value: Sendable>(_ operation: @escaping @Sendable () async -> Value) async -> Value {
    await Task { await operation() }.value
}
