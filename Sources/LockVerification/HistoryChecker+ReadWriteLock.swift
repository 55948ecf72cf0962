/// The read/write lock's checks: readers share, a writer excludes everyone.
///
/// Readers prove their hold with fenced reads (a txn reading the register only while the
/// reader's key still has its create revision), two per read section with work between them;
/// writers increment the register with fenced writes, as a mutex's holders do.
extension HistoryChecker {
    /// Shared exclusion as etcd saw it: when each fenced read was answered, the reader's key was
    /// ahead of every writer's (the reader held by the read/write rule).
    static func readersHeldLock(_ record: VerificationRecord, _ index: HistoryIndex) -> CheckOutcome {
        let name = "each fenced read was answered while its reader held a read hold"
        guard let holders = record.readHolders else {
            return outcome(name, ["etcd's history of the lock queue could not be read (compacted?)"], "not checked")
        }
        var violations: [String] = []
        for read in index.reads {
            guard let tokens = holders[read.revision] else {
                violations.append("revision \(read.revision): the queue at client \(read.process)'s read was not read from etcd")
                continue
            }
            if !tokens.contains(read.token) {
                let holding = tokens.isEmpty ? "nobody" : "token\(tokens.count == 1 ? "" : "s") \(list(tokens))"
                violations.append(
                    "revision \(read.revision): client \(read.process) read under token \(read.token) while \(holding) held the lock")
            }
        }
        return outcome(name, violations, "holders read at each of \(index.reads.count) fenced read revisions")
    }

    /// Readers see a stable register: each fenced read returned the count etcd's history has at
    /// its revision, and no write applied between a reader's first and last fenced read.
    static func readsSawNoWrite(_ record: VerificationRecord, _ index: HistoryIndex) -> CheckOutcome {
        let name = "reads return etcd's register, and no write applies within a read section"
        guard let writes = record.registerWrites else { return unavailable(name) }
        let ordered = writes.sorted { $0.revision < $1.revision }
        /// The position of the first write after `revision`.
        func firstWrite(after revision: Int64) -> Int {
            var low = 0, high = ordered.count
            while low < high {
                let middle = (low + high) / 2
                if ordered[middle].revision <= revision { low = middle + 1 } else { high = middle }
            }
            return low
        }
        var violations: [String] = []
        var sections: [Int64: (first: FencedRead, last: FencedRead)] = [:]
        for read in index.reads {
            let position = firstWrite(after: read.revision)
            let expected = position == 0 ? 0 : ordered[position - 1].value?.count ?? -1
            if read.value != expected {
                violations.append(
                    "revision \(read.revision): client \(read.process) read \(read.value) under token \(read.token); "
                        + "etcd's register held \(expected)")
            }
            let section = sections[read.token] ?? (read, read)
            sections[read.token] = (
                section.first.revision <= read.revision ? section.first : read,
                section.last.revision >= read.revision ? section.last : read
            )
        }
        var spanning = 0
        for (token, section) in sections.sorted(by: { $0.key < $1.key }) where section.first.revision < section.last.revision {
            spanning += 1
            let position = firstWrite(after: section.first.revision)
            guard position < ordered.count, ordered[position].revision <= section.last.revision else { continue }
            let write = ordered[position]
            violations.append(
                "revision \(write.revision): \(write.value?.operation ?? "a write") (token \(write.value.map { String($0.token) } ?? "?")) "
                    + "applied within the read section of token \(token) (client \(section.first.process), revisions "
                    + "\(section.first.revision)…\(section.last.revision))")
        }
        return outcome(
            name, violations, "\(index.reads.count) fenced reads in \(sections.count) read sections (\(spanning) spanning revisions)")
    }

    /// Exclusion in real time: an accepted write section (acquired → its write sent) overlaps no
    /// other accepted section; an accepted read section (acquired → its last answered fenced read
    /// sent) may overlap other read sections only.
    static func writeSectionsExclusive(_ record: VerificationRecord, _ index: HistoryIndex) -> CheckOutcome {
        let name = "no write section overlaps another section (read sections may overlap)"
        guard let writes = record.registerWrites else { return unavailable(name) }
        var sections: [Section] = []
        for value in writes.compactMap(\.value) {
            guard let start = index.acquired[value.token], let end = index.attempted[value.operation] else { continue }
            sections.append(Section(token: value.token, start: start, end: max(start, end), isExclusive: true))
        }
        var readEnds: [Int64: UInt64] = [:]
        for read in index.reads { readEnds[read.token] = max(readEnds[read.token] ?? 0, read.sent) }
        for (token, end) in readEnds {
            guard let start = index.acquired[token] else { continue }
            sections.append(Section(token: token, start: start, end: max(start, end), isExclusive: false))
        }
        sections.sort { ($0.start, $0.token) < ($1.start, $1.token) }
        var violations: [String] = []
        var latest: Section?  // the section reaching furthest so far
        var latestWrite: Section?  // the write section reaching furthest so far
        for section in sections {
            let rival = section.isExclusive ? latest : latestWrite
            if let rival, rival.end >= section.start {
                violations.append(
                    "\(section.kind) section of token \(section.token) began \(milliseconds(rival.end - section.start)) ms "
                        + "before \(rival.kind) section of token \(rival.token) ended")
            }
            if latest.map({ section.end > $0.end }) ?? true { latest = section }
            if section.isExclusive, latestWrite.map({ section.end > $0.end }) ?? true { latestWrite = section }
        }
        let writeCount = sections.filter(\.isExclusive).count
        let readers = sections.filter { !$0.isExclusive }.map { (token: $0.token, start: $0.start, end: $0.end) }
        let shared = crowding(readers, limit: .max).most
        return outcome(
            name, violations,
            "\(writeCount) write sections and \(readers.count) read sections compared (at most \(shared) read sections at once)")
    }
}

/// An accepted critical section in real time (monotonic nanoseconds), for the overlap checks.
struct Section {
    var token: Int64
    var start: UInt64
    var end: UInt64
    /// A writer's (or a mutex holder's) section, which no other may overlap.
    var isExclusive: Bool

    var kind: String { isExclusive ? "write" : "read" }
}

/// Milliseconds with two decimals, for reports.
func milliseconds(_ nanoseconds: UInt64) -> String { String(format2: Double(nanoseconds) / 1e6) }

/// Tokens as a comma-separated list, for reports.
func list(_ tokens: [Int64]) -> String { tokens.map(String.init).joined(separator: ", ") }
