/// Polls `condition` until it holds or `deadline` passes, for state outside the process (a
/// lease's TTL, another process's key). Returns whether it held.
///
/// Use it for conditions no event announces; wait on the event itself where there is one.
public func eventually(
    within deadline: Duration, every interval: Duration = .milliseconds(20),
    isolation: isolated (any Actor)? = #isolation, _ condition: () async throws -> Bool
) async throws -> Bool {
    let end = ContinuousClock.now + deadline
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= end { return false }
        // Polling interval of a condition that has no event to wait on (see the doc comment).
        try await Task.sleep(for: interval)
    }
}

/// Measures how long `body` takes on the monotonic clock.
public func measure<Result>(
    isolation: isolated (any Actor)? = #isolation, _ body: () async throws -> Result
) async rethrows -> (Result, Duration) {
    let start = ContinuousClock.now
    let result = try await body()
    return (result, ContinuousClock.now - start)
}

/// Runs `body`, cancelling it and throwing if it has not finished within `limit`.
///
/// Wrap any wait on another party (a watch event, another process) so that a bug fails the test
/// promptly with a clear message instead of hanging until the suite's time limit.
public func withDeadline<Result: Sendable>(
    _ limit: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> Result
) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        guard let first = try await group.next(), let result = first else {
            throw TestEnvironmentError(description: "\(what) did not finish within \(limit)")
        }
        return result
    }
}
