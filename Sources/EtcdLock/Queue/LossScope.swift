/// How ``runUntilLost(isolation:loss:_:)`` ended.
enum LossScopeOutcome<Value> {
    /// `body` finished first and returned this.
    case finished(Value)
    /// The loss came first: `body` was cancelled, and it has ended.
    case lost
}

/// Runs `body` in the caller's isolation until it finishes or `loss` returns, whichever comes
/// first. On a loss, `body` is cancelled and this waits for it to end before returning `.lost`.
/// When the calling task is cancelled, `body` is cancelled too; what it then returns or throws
/// (once it has ended) is the outcome. What `body` throws is rethrown.
///
/// Why `body` runs in a task of its own: the scope must cancel `body` without cancelling its
/// caller, and Swift can only cancel a task other than the current one (through its handle). A
/// child task of a task group would do, but its closure cannot be bound to a dynamic actor, so a
/// non-`Sendable` `body` from the main actor or an actor could not be sent to it. An unstructured
/// `Task` whose closure captures `isolation` is isolated to it (SE-0420): `body`, what it
/// captures and its result stay in the caller's isolation. The task is owned here: cancelled on a
/// loss or with the caller, and awaited on every path before returning. That await is also what
/// makes handing it the non-escaping `body` sound (`withoutActuallyEscaping` checks it at run time).
/// `loss` is awaited by a nonisolated child task, so a busy actor does not delay noticing it.
func runUntilLost<Value>(
    isolation: isolated (any Actor)?,
    loss: @escaping @Sendable () async throws -> Void,
    _ body: () async throws -> Value
) async throws -> LossScopeOutcome<Value> {
    try await withoutActuallyEscaping(body) { body in
        let slot = ResultSlot<Value>()
        let bodyTask = Task {
            _ = isolation  // the capture isolates this task to the caller's actor
            slot.value = try await body()
        }
        let lost: Bool
        do {
            lost = try await withTaskCancellationHandler {
                try await withThrowingTaskGroup(of: Bool?.self) { group in
                    group.addTask {
                        try await bodyTask.value
                        return false
                    }
                    group.addTask {
                        do {
                            try await loss()
                            return true
                        } catch {
                            // Cancelled with the caller: the body's own outcome decides (a body
                            // that finished keeps its value).
                            return nil
                        }
                    }
                    // Whichever ends first, the other is cancelled; leaving the group waits for
                    // both, so `body` has ended by then.
                    defer {
                        group.cancelAll()
                        bodyTask.cancel()
                    }
                    while let outcome = try await group.next() {
                        if let lost = outcome { return lost }
                    }
                    return true
                }
            } onCancel: {
                bodyTask.cancel()
            }
        } catch {
            _ = await bodyTask.result
            throw error
        }
        guard !lost, let value = slot.value else { return .lost }
        return .finished(value)
    }
}

/// Carries the result of `body` out of its task without requiring it to be `Sendable`: the task
/// and its reader share the caller's isolation, and the reader looks only after the task ended.
private final class ResultSlot<Value> {
    var value: Value?
}
