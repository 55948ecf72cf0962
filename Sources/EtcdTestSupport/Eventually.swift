/// Polls `condition` until it holds or `deadline` passes, for state outside the process (a
/// lease's TTL, another process's key). Returns whether it held.
///
/// Use it for conditions no event announces; wait on the event itself where there is one.
public func eventually(
    within deadline: Duration, every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
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
public func measure<Result>(_ body: () async throws -> Result) async rethrows -> (Result, Duration) {
    let start = ContinuousClock.now
    let result = try await body()
    return (result, ContinuousClock.now - start)
}
