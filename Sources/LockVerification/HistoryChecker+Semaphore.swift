/// The semaphore's checks: never more than `permits` accepted holders at once.
///
/// Each holder writes the register twice with writes fenced by its permit, on entering its
/// section and before leaving it (``RegisterValue/count`` 1 and 2). A permit's key lives from
/// before the first of its writes to after the last, and stays among the `permits` oldest keys
/// once it is, so the revisions of its accepted writes bound a stretch during which it held.
extension HistoryChecker {
    /// In etcd's order: the stretches from each permit's first to its last accepted write
    /// (revisions) never overlap more than `permits` at once.
    static func permitIntervalsWithinPermits(_ record: VerificationRecord, permits: Int) -> CheckOutcome {
        let name = "at most \(permits) permit holders' accepted writes interleave in etcd's history"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var spans: [Int64: (first: Int64, last: Int64)] = [:]
        for write in writes {
            guard let value = write.value else { continue }
            let span = spans[value.token] ?? (write.revision, write.revision)
            spans[value.token] = (min(span.first, write.revision), max(span.last, write.revision))
        }
        let crowds = crowding(spans.map { (token: $0.key, start: $0.value.first, end: $0.value.last) }, limit: permits)
        let violations = crowds.excess.map { crowd in
            "revision \(crowd.at): tokens \(list(crowd.tokens)) all held (\(crowd.tokens.count) > \(permits) permits)"
        }
        return outcome(
            name, violations, "\(spans.count) permit sections, at most \(crowds.most) interleaved, in \(writes.count) writes")
    }

    /// In real time: accepted permit sections (acquired → the last accepted write sent) never
    /// overlap more than `permits` at once.
    static func permitSectionsWithinPermits(_ record: VerificationRecord, _ index: HistoryIndex, permits: Int) -> CheckOutcome {
        let name = "at most \(permits) accepted permit sections overlap in real time"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var ends: [Int64: UInt64] = [:]
        for value in writes.compactMap(\.value) {
            guard let sent = index.attempted[value.operation] else { continue }
            ends[value.token] = max(ends[value.token] ?? 0, sent)
        }
        let sections = ends.compactMap { token, end in
            index.acquired[token].map { (token: token, start: $0, end: max($0, end)) }
        }
        let crowds = crowding(sections, limit: permits)
        let origin = record.origin
        let violations = crowds.excess.map { crowd in
            "at \(seconds(crowd.at &- origin)) s: tokens \(list(crowd.tokens)) all held (\(crowd.tokens.count) > \(permits) permits)"
        }
        return outcome(name, violations, "\(sections.count) accepted sections, at most \(crowds.most) at once")
    }

    /// The moments when more than `limit` of `intervals` (closed) overlap, once per crowd, and
    /// the most that ever overlap.
    static func crowding<Point: Comparable>(
        _ intervals: [(token: Int64, start: Point, end: Point)], limit: Int
    ) -> (excess: [(at: Point, tokens: [Int64])], most: Int) {
        // At equal points, starts come first: closed intervals that touch overlap.
        let changes = intervals.flatMap { [($0.start, 0, $0.token), ($0.end, 1, $0.token)] }
            .sorted { ($0.0, $0.1, $0.2) < ($1.0, $1.1, $1.2) }
        var open: Set<Int64> = []
        var most = 0
        var excess: [(at: Point, tokens: [Int64])] = []
        var crowded = false
        for (point, kind, token) in changes {
            if kind == 0 {
                open.insert(token)
                most = max(most, open.count)
                if open.count > limit, !crowded { excess.append((point, open.sorted())) }
                crowded = open.count > limit
            } else {
                open.remove(token)
                crowded = open.count > limit
            }
        }
        return (excess, most)
    }
}
