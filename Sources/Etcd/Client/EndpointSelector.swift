import Synchronization

/// Chooses the member for the next call: the preferred one while it works, the next healthy
/// one after a failure. A failed member is avoided for a cooldown, then tried again.
final class EndpointSelector: Sendable {
    private struct State {
        var preferred = 0
        var avoidUntil: [ContinuousClock.Instant?]
    }

    private let state: Mutex<State>
    private let count: Int
    private let cooldown: Duration

    init(count: Int, cooldown: Duration) {
        self.count = count
        self.cooldown = cooldown
        state = Mutex(State(avoidUntil: Array(repeating: nil, count: count)))
    }

    /// The endpoint to use now.
    func pick() -> Int {
        let now = ContinuousClock.now
        return state.withLock { state in
            for offset in 0..<count {
                let index = (state.preferred + offset) % count
                if let until = state.avoidUntil[index], until > now { continue }
                state.avoidUntil[index] = nil
                state.preferred = index
                return index
            }
            // Every member failed recently: try the one whose cooldown ends first.
            var best = 0
            for index in 1..<count {
                if let candidate = state.avoidUntil[index], let current = state.avoidUntil[best], candidate < current {
                    best = index
                }
            }
            return best
        }
    }

    /// Records that `index` failed: avoid it for the cooldown and prefer the next one.
    func markFailed(_ index: Int) {
        let until = ContinuousClock.now + cooldown
        state.withLock { state in
            state.avoidUntil[index] = until
            if state.preferred == index { state.preferred = (index + 1) % count }
        }
    }
}
