import Etcd

/// A recipe's admission rule: given the keys ahead of a waiter's entry, is it admitted, and if
/// not, which single thing does it watch before looking again.
///
/// Every recipe is this rule over one queue (``LockQueue``): entries are keys under the recipe's
/// prefix, ordered by create revision, and an entry's create revision is its fencing token.
/// A rule reads a bounded slice of the queue — never the whole queue — and names one key (or, for
/// the one waiter a release concerns, one range) to watch, so a release wakes only the waiter it
/// concerns and requests per handoff stay constant as the queue grows.
protocol AdmissionRule: Sendable {
    /// The read that decides admission for the entry created at `revision`: the slice of the
    /// queue ahead of it that the rule needs.
    func slice(ahead revision: Revision, in prefix: EtcdKey) -> RangeRequest

    /// Whether the entry created at `revision` is admitted given `ahead` (the answer to
    /// ``slice(ahead:in:)``), and what to watch when it is not.
    func admission(of revision: Revision, ahead: [KeyValue], in prefix: EtcdKey) -> Admission

    /// Whether an entry admitted after waiting writes its key again (same value, same lease), so a
    /// waiter watching it learns that its own position changed (see ``EtcdSemaphore``).
    var announcesAdmission: Bool { get }
}

extension AdmissionRule {
    var announcesAdmission: Bool { false }
}

/// The outcome of one look at the queue.
enum Admission: Sendable, Equatable {
    /// Nothing ahead blocks the entry.
    case admitted
    /// The entry waits until something changes on `Blocker/watched`.
    case blocked(Blocker)
}

/// What a blocked entry waits on.
struct Blocker: Sendable, Equatable {
    /// The key (or, for one waiter, the range) to watch.
    var watched: KeyRange
    /// Whether a put on ``watched`` concerns the waiter (an announced admission), not only deletes.
    var wakesOnPut = false
    /// When set, only deletions of keys created before this revision concern the waiter (a range
    /// is watched and the events carry the deleted key).
    var onlyKeysCreatedBefore: Revision?
    /// What the look saw: a second look after the watch started must see the same, or the entry
    /// looks again (the blocker may have gone between the read and the watch).
    var seen: [Revision]

    /// Whether `event` may change the entry's admission.
    func concerns(_ event: WatchEvent) -> Bool {
        if event.kind == .put { return wakesOnPut }
        guard let before = onlyKeysCreatedBefore, let deleted = event.previous else { return true }
        return deleted.createRevision < before
    }
}

/// The last entry created before `revision` in `keys`, newest first, at most `limit` of them
/// (with their values unless `keysOnly`).
func entriesAhead(of revision: Revision, in keys: KeyRange, limit: Int64, keysOnly: Bool = true) -> RangeRequest {
    var request = RangeRequest(keys, limit: limit, sort: .init(.createRevision, .descending), keysOnly: keysOnly)
    request.maxCreateRevision = Revision(revision.rawValue - 1)
    return request
}

/// The exclusive rule: admitted when no entry of `blockingKeys` is ahead; a waiter watches only the
/// nearest one ahead of it. The mutex, the election and a write lock use it over the whole queue,
/// a read lock over the writers' part of it.
struct NothingAhead: AdmissionRule {
    /// Which keys block: `nil` for the whole queue.
    var blockingKeys: EtcdKey?

    func slice(ahead revision: Revision, in prefix: EtcdKey) -> RangeRequest {
        entriesAhead(of: revision, in: .prefix(blockingKeys ?? prefix), limit: 1)
    }

    func admission(of revision: Revision, ahead: [KeyValue], in prefix: EtcdKey) -> Admission {
        guard let nearest = ahead.first else { return .admitted }
        return .blocked(Blocker(watched: .key(nearest.key), seen: [nearest.createRevision]))
    }
}
