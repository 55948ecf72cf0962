import Foundation

// Deadlines and member liveness probes of the loop thread. Everything here runs on that thread,
// like the rest of IOLoop.
extension IOLoop {
    /// How long `poll()` may sleep: until the nearest exchange deadline or due liveness probe
    /// (-1: no limit).
    func millisecondsUntilNextDeadline() -> Int32 {
        var nearest: ContinuousClock.Instant?
        for exchange in exchanges.values where exchange.isDeadlineActive {
            let deadline = exchange.effectiveDeadline
            if nearest == nil || deadline < nearest! { nearest = deadline }
        }
        if let liveness {
            for pool in pools where pool.streamCount > 0 && !pool.isProbing {
                let due = pool.lastHeard + liveness.interval
                if nearest == nil || due < nearest! { nearest = due }
            }
        }
        guard let nearest else { return -1 }
        let remaining = ContinuousClock.now.duration(to: nearest)
        if remaining <= .zero { return 0 }
        let (seconds, attoseconds) = remaining.components
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        return Int32(min(milliseconds, 60_000))
    }

    /// Starts due liveness probes and fails the exchanges whose deadline has passed.
    func expireDeadlines() {
        let now = ContinuousClock.now
        startDueProbes(now: now)
        var expired: [Exchange] = []
        for exchange in exchanges.values where exchange.isDeadlineActive && exchange.effectiveDeadline <= now {
            expired.append(exchange)
        }
        for exchange in expired {
            let host = pools[exchange.request.endpoint].hostHeader
            finish(exchange, with: exchange.error(.timedOut, "no response from \(host) before the deadline"))
        }
    }

    /// Probes each member whose streams have been silent for the liveness interval: a frozen
    /// member keeps its connections open but answers nothing, and only a request to that same
    /// member can tell. If the probe is not answered in time, its streams fail with `.timedOut`
    /// (a watch then resumes on another member).
    private func startDueProbes(now: ContinuousClock.Instant) {
        guard let liveness else { return }
        for (index, pool) in pools.enumerated()
        where pool.streamCount > 0 && !pool.isProbing && now >= pool.lastHeard + liveness.interval {
            pool.isProbing = true
            let request = HTTPRequest(path: "/v3/maintenance/status", body: Array("{}".utf8), authorization: nil)
            let probe = Exchange(
                ExchangeRequest(
                    id: makeExchangeID(), endpoint: index, bytes: request.serialized(host: pool.hostHeader),
                    deadline: now + liveness.timeout, responseStartDeadline: nil, responder: .probe,
                    cancellation: CancellationFlag()))
            probe.onProbeOutcome = { [unowned self] answered in
                pool.isProbing = false
                pool.lastHeard = .now
                guard !answered else { return }
                let silent = self.exchanges.values.filter { $0.isStream && $0.request.endpoint == index }
                for stream in silent {
                    self.finish(stream, with: stream.error(.timedOut, "\(pool.hostHeader) stopped answering"))
                }
            }
            exchanges[probe.request.id] = probe
            startUnary(probe)
        }
    }
}
