import Etcd
import Foundation
import Synchronization

/// The queue engine under every recipe: entries are keys under one prefix, ordered by create
/// revision; an entry's create revision is its place in line and its fencing token. A recipe is
/// an ``AdmissionRule`` over this queue. Uses only etcd's public API, as etcd's own recipes do.
///
/// Acquisition, end to end: take the session's local turn (recipes with one key per session) →
/// enqueue in one transaction that also reads the slice of the queue the rule needs (an empty
/// queue costs one put) → watch the one key the rule names → look again (closing the gap between
/// the read and the watch; at the watch's start revision, trusted only to say "still blocked")
/// → wait for an event that concerns the entry → look again at the newest state, which alone
/// decides an admission. Waiting ends with the entry admitted, or with its key withdrawn (timeout,
/// cancellation, a lost session, an error), so no phantom entry blocks the queue.
struct LockQueue: Sendable {
    let session: EtcdSession
    /// The queue's prefix, ending with `/`.
    let prefix: EtcdKey
    /// The name observers and errors use.
    let name: String
    let kind: RecipeKind
    /// Where the queue's reads, writes and watches go: the session's client, or a test's interposer.
    let store: any QueueStore

    /// The queue of the recipe `kind` named `name` in `namespace`.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    init(session: EtcdSession, namespace: String, kind: RecipeKind, name: String, store: (any QueueStore)? = nil) throws {
        try self.init(
            session: session, prefix: LockName.prefix(namespace: namespace, kind: kind.rawValue, name: name),
            kind: kind, name: name, store: store)
    }

    /// The queue under a given `prefix` (ending with `/`).
    ///
    /// - Parameter etcdLayout: name keys as etcd's own Go recipes and `etcdctl` do — the lease in
    ///   lowercase hex without leading zeros — so that they and this queue exclude each other.
    init(
        session: EtcdSession, prefix: EtcdKey, kind: RecipeKind, name: String, store: (any QueueStore)? = nil,
        etcdLayout: Bool = false
    ) {
        self.session = session
        self.prefix = prefix
        self.kind = kind
        self.name = name
        self.store = store ?? session.client
        leaseSegment = etcdLayout ? String(UInt64(bitPattern: session.lease.rawValue), radix: 16) : session.lease.hexString
    }

    /// How this session's lease appears in its keys.
    let leaseSegment: String

    /// This session's key in a queue with one key per session: `<prefix><lease-hex>`. Also what
    /// identifies "this session's hold on this queue" for reentrancy.
    var sessionKey: EtcdKey { prefix.appending(leaseSegment) }

    /// A fresh key for one entry of this session: `<prefix>[<part>/]<lease-hex>-<n>`, unique
    /// because the lease is and `n` never repeats within a session.
    func entryKey(part: String? = nil) -> EtcdKey {
        let leaf = Self.entryLeaf(leaseSegment: leaseSegment, number: session.nextEntryNumber())
        return prefix.appending(part.map { "\($0)/\(leaf)" } ?? leaf)
    }

    /// The last segment of entry key number `number` of a session: `<lease-hex>-<n>`.
    static func entryLeaf(leaseSegment: String, number: UInt64) -> String {
        "\(leaseSegment)-\(String(number, radix: 16))"
    }

    /// One acquisition request.
    struct Entry: Sendable {
        /// The entry's key (``sessionKey`` or an ``entryKey(part:)``).
        var key: EtcdKey
        /// The value stored in the key.
        var value: [UInt8]
        /// What ``value`` records, for the recipes whose keys carry a ``QueueEntryRecord`` (the
        /// election's value is the candidate's own).
        var record: QueueEntryRecord?
        /// Who is admitted.
        var rule: any AdmissionRule
        /// Checks the queue's head before waiting (a semaphore's permit count): a `LockError`
        /// withdraws the entry and is thrown.
        var checkHead: @Sendable (KeyValue) -> LockError? = { _ in nil }
        /// The lock-delay to honour once admitted, if any.
        var delay: DelayMarker?
        /// The marker this entry records while it holds, if any.
        var ownMarker: EtcdKey? { delay?.recordsOwn == true ? delay?.key : nil }
        /// The hold the entry stands for. Shared ones (``LockMode/isShared``: a read, a permit)
        /// travel alone, enqueue and release: merged with another of the same queue they would
        /// share its create revision, and the coalescer would send them one at a time, serializing
        /// the holders it exists to let run together.
        var mode: LockMode = .exclusive

        /// A recipe's entry whose value is `record`.
        init(
            key: EtcdKey, record: QueueEntryRecord, rule: any AdmissionRule, checkHead: @escaping @Sendable (KeyValue) -> LockError? = { _ in nil },
            delay: DelayMarker? = nil, mode: LockMode = .exclusive
        ) {
            self.init(key: key, value: record.bytes, rule: rule, checkHead: checkHead, delay: delay, mode: mode)
            self.record = record
        }

        init(
            key: EtcdKey, value: [UInt8], rule: any AdmissionRule, checkHead: @escaping @Sendable (KeyValue) -> LockError? = { _ in nil },
            delay: DelayMarker? = nil, mode: LockMode = .exclusive
        ) {
            self.key = key
            self.value = value
            self.rule = rule
            self.checkHead = checkHead
            self.delay = delay
            self.mode = mode
        }

        /// The value that also records the entry's admission at `date` (``value`` when it records nothing).
        func value(admittedAt date: Date?) -> [UInt8] {
            guard let record, let date else { return value }
            return record.admitted(at: date).bytes
        }
    }

    /// A lock-delay's marker (see ``LockDelay``).
    struct DelayMarker: Sendable {
        /// The marker key, next to the queue.
        var key: EtcdKey
        var delay: Duration
        /// Whether the entry records its own marker while it holds (exclusive holds), or only
        /// waits for another holder's to expire (readers).
        var recordsOwn: Bool
    }

    /// An admitted entry.
    struct Ticket: Sendable {
        var key: EtcdKey
        /// The entry's create revision: its fencing token.
        var revision: Revision
        /// The value etcd holds, when the key was found from an earlier acquisition of this session.
        var foundValue: [UInt8]?
        var acquiredAt: ContinuousClock.Instant
        /// The lock-delay marker this entry recorded, deleted with it on release.
        var marker: EtcdKey?
        /// The entry's record, when its key does not record the admission yet (see
        /// ``QueueEntryRecord``): a ``LockHandle`` writes it, admitted; other holders never pay for it.
        var unrecordedAdmission: QueueEntryRecord?
    }

    // MARK: Acquisition

    /// Queues `entry` and waits until its rule admits it, or until `deadline`.
    ///
    /// - Throws: ``LockError`` `.timeout`, `.cancelled`, `.sessionLost`, `.ownershipLost` (the
    ///   entry's key was deleted by someone else), or the error ``Entry/checkHead`` returned;
    ///   ``EtcdError`` when etcd cannot be reached. The entry's key is withdrawn on every error.
    func acquire(_ entry: Entry, deadline: ContinuousClock.Instant?) async throws -> Ticket {
        let started = ContinuousClock.now
        do {
            // Other tasks of this session queue here first; the deadline covers that wait too.
            try await takeLocalTurn(entry.key, until: deadline)
            do {
                let ticket = try await enqueueAndWait(entry, deadline: deadline)
                session.observer.acquired(name: name, token: FencingToken(ticket.revision), waited: .now - started)
                return ticket
            } catch {
                releaseLocalTurn(entry.key)
                throw error
            }
        } catch let error as LockError where error.code == .timeout {
            session.observer.timedOut(name: name, waited: .now - started)
            throw error
        }
    }

    private func enqueueAndWait(_ entry: Entry, deadline: ContinuousClock.Instant?) async throws -> Ticket {
        try session.checkValid()
        let position = try await enqueue(entry, deadline: deadline)
        try await checkHead(position, of: entry)
        do {
            if !position.isAdmitted {
                session.observer.waitStarted(name: name)
                defer { session.observer.waitEnded(name: name) }
                try await waitForTurn(entry, revision: position.revision, blockedBy: position.blockerAtEnqueue, deadline: deadline)
                // A later entry may have seen this one blocked and watch it, even if it was
                // admitted at its first look (a release came between the two reads).
                if entry.rule.announcesAdmission { await announceAdmission(entry, revision: position.revision) }
            }
            if let delay = entry.delay {
                _ = try await passLockDelay(delay, of: entry, revision: position.revision, mayWait: true, deadline: deadline)
            }
        } catch {
            await withdraw(entry.key, revision: position.revision, marker: entry.ownMarker, pastDeadline: deadline.map { .now >= $0 } ?? false)
            throw normalized(error)
        }
        // A session that expired meanwhile (a long pause) must not hand out a guard.
        try session.checkValid()
        let announced = !position.isAdmitted && entry.rule.announcesAdmission
        return ticket(entry, position, admissionRecorded: position.recordsAdmission || announced)
    }

    /// The ticket of `entry`, admitted now.
    private func ticket(_ entry: Entry, _ position: Position, admissionRecorded: Bool) -> Ticket {
        Ticket(
            key: entry.key, revision: position.revision, foundValue: position.foundValue, acquiredAt: .now,
            marker: entry.ownMarker, unrecordedAdmission: admissionRecorded ? nil : entry.record)
    }

    /// The outcome of ``tryAcquire(_:)``.
    enum Attempt: Sendable {
        case acquired(Ticket)
        /// Not admitted; nothing of the attempt is left in etcd. `head` is the queue's first entry
        /// (`nil` when another task of this session holds the session's key).
        case blocked(head: KeyValue?)
    }

    /// Acquires `entry` only if its rule admits it at once.
    func tryAcquire(_ entry: Entry) async throws -> Attempt {
        guard tryTakeLocalTurn(entry.key) else { return .blocked(head: nil) }
        do {
            try session.checkValid()
            let position = try await enqueue(entry, deadline: nil)
            try await checkHead(position, of: entry)
            var admitted = position.isAdmitted
            var head = position.head
            do {
                if !admitted { admitted = try await look(entry, revision: position.revision) == .admitted }
                // Admitted at the second look: a later entry may have seen this one blocked meanwhile.
                if admitted, !position.isAdmitted, entry.rule.announcesAdmission {
                    await announceAdmission(entry, revision: position.revision)
                }
                if admitted, let delay = entry.delay,
                    let standing = try await passLockDelay(delay, of: entry, revision: position.revision, mayWait: false, deadline: nil)
                {
                    // The lock is in a lost holder's lock-delay: that holder is the one to report.
                    admitted = false
                    head = Self.lostHolder(markedBy: standing)
                }
            } catch {
                await withdraw(entry.key, revision: position.revision, marker: entry.ownMarker)
                throw normalized(error)
            }
            guard admitted else {
                await withdraw(entry.key, revision: position.revision)
                releaseLocalTurn(entry.key)
                return .blocked(head: head)
            }
            session.observer.acquired(name: name, token: FencingToken(position.revision), waited: .zero)
            let announced = !position.isAdmitted && entry.rule.announcesAdmission
            return .acquired(ticket(entry, position, admissionRecorded: position.recordsAdmission || announced))
        } catch {
            releaseLocalTurn(entry.key)
            throw error
        }
    }

    private func checkHead(_ position: Position, of entry: Entry) async throws {
        guard let head = position.head, let refusal = entry.checkHead(head) else { return }
        await withdraw(entry.key, revision: position.revision)
        throw refusal
    }

    // MARK: The session's local turn

    /// Takes this session's local turn on `key`: in a queue with one key per session, tasks of one
    /// session share the key, so they queue in the process first (other queues have no turns: this
    /// returns at once). Release it with ``releaseLocalTurn(_:)``.
    ///
    /// - Throws: ``LockError`` `.timeout` at `deadline`, `.sessionLost`, `.cancelled`.
    func takeLocalTurn(_ key: EtcdKey, until deadline: ContinuousClock.Instant?) async throws {
        guard kind.keyPerSession else { return }
        do {
            if let deadline {
                guard try await session.localLocks.acquire(key.description, until: deadline) else {
                    throw LockError(code: .timeout, message: "\(name) was not acquired in time")
                }
            } else {
                try await session.localLocks.acquire(key.description)
            }
        } catch let error as LockError {
            throw error
        } catch is LocalLockTable.Closed {
            throw LockError(code: .sessionLost, message: "session \(session.lease) was lost while waiting for \(name)")
        } catch {
            throw LockError(code: .cancelled, message: "waiting for \(name) was cancelled")
        }
    }

    /// Takes this session's local turn on `key` only if it is free (see ``takeLocalTurn(_:until:)``).
    func tryTakeLocalTurn(_ key: EtcdKey) -> Bool {
        !kind.keyPerSession || session.localLocks.tryAcquire(key.description)
    }

    /// Hands this session's local turn on `key` to its next task, or frees it (nothing to do in a
    /// queue without turns).
    func releaseLocalTurn(_ key: EtcdKey) {
        guard kind.keyPerSession else { return }
        session.localLocks.release(key.description)
    }

    // MARK: Enqueueing

    /// Where an entry stands after ``enqueue(_:)``.
    struct Position: Sendable {
        /// The create revision of the entry's key: its place in line and its fencing token.
        var revision: Revision
        /// The key at the head of the queue (`nil` only if the queue emptied meanwhile).
        var head: KeyValue?
        /// The value of the key when it existed already (an earlier acquisition of the session).
        var foundValue: [UInt8]?
        /// Whether the key's value records the entry's admission (it found the queue empty).
        var recordsAdmission = false
        /// Whether the entry is at the head.
        var isHead: Bool { head?.createRevision == revision }
        /// The rule's verdict as the entry was created (the keys ahead were read in the same txn,
        /// just before the put): the head is always admitted; a reader or a permit holder behind
        /// others may be. `nil` when the key existed already (an earlier acquisition of the session).
        var admissionAtEnqueue: Admission?
        /// Whether the entry needs no wait: ``isHead`` or admitted at enqueue.
        var isAdmitted: Bool { isHead || admissionAtEnqueue == .admitted }
        /// What blocked the entry as it was created: the first wait watches it without reading the
        /// queue first.
        var blockerAtEnqueue: Blocker? {
            guard !isAdmitted, case .blocked(let blocker) = admissionAtEnqueue else { return nil }
            return blocker
        }
    }

    /// Puts the entry's key in the queue (or finds it there) and learns the head, in one txn.
    ///
    /// The common case, an empty queue, costs etcd one put: the txn's compare is "no key under
    /// the prefix", and the new key is then the head. Otherwise a nested txn creates the key if
    /// absent (or finds it) and reads the head. Safe to retry: the key is the entry's own, so a
    /// second attempt finds it.
    ///
    /// - Parameter deadline: the caller's; the request's own timeout does not outlast it.
    func enqueue(_ entry: Entry, deadline: ContinuousClock.Instant?) async throws -> Position {
        let key = entry.key
        let headRange = RangeRequest(.prefix(prefix), limit: 1, sort: .init(.createRevision, .ascending))
        // The rule's slice is read just before the put: every key there is ahead of the entry, so
        // the rule decides (admits a reader, names a waiter's blocker) without another request.
        let slice = entry.rule.slice(ahead: Revision(Int64.max), in: prefix)
        let queued = Txn(
            if: [.createRevision(of: key, .equal, .zero)],
            then: [.range(slice), .put(key, value: entry.value, lease: session.lease), .range(headRange)],
            else: [.range(RangeRequest(.key(key))), .range(headRange)])
        // An entry that finds the queue empty is admitted as it is written: its value says so.
        let headValue = entry.value(admittedAt: entry.record?.queuedAt)
        let txn = Txn(
            if: [Txn.Compare(.prefix(prefix), .createRevision(.zero), .equal)],
            then: [.put(key, value: headValue, lease: session.lease)],
            else: [.txn(queued)])
        let result: TxnResult
        do {
            // Not cancelled with the caller: abandoning the request in flight would leave its
            // outcome unknown (the key may land after any clean-up). The caller's cancellation is
            // honoured right after, by the checks that follow every enqueue.
            // Under load it travels with other queues' enqueues (never with this queue's own:
            // their create revisions must differ).
            let store = self.store
            let group = prefix.description
            let coalesces = !entry.mode.isShared
            let timeout = remaining(until: deadline)
            trace(.enqueueSent)
            result = try await finishEvenIfCancelled {
                coalesces
                    ? try await store.txn(txn, coalescingGroup: group, retry: .idempotent, timeout: timeout)
                    : try await store.txn(txn, retry: .idempotent, timeout: timeout)
            }
        } catch let error as EtcdError where error.code == .leaseNotFound {
            session.markLost(.leaseExpired)
            throw LockError(code: .sessionLost, message: "session \(session.lease) is lost", underlying: error)
        } catch let error as EtcdError where error.mayHaveBeenApplied {
            // Cut off after the request may have reached etcd (on any attempt): the key may exist,
            // and nobody would ever delete it (a phantom waiter, later a phantom holder). Delete
            // it: the key is this entry's own (for a key per session, the local lock table keeps
            // other tasks of the session off it).
            let pastDeadline = deadline.map { .now >= $0 } ?? false
            await withdraw(key, revision: nil, pastDeadline: pastDeadline)
            if pastDeadline {
                throw LockError(code: .timeout, message: "\(name) was not acquired in time (etcd did not answer)", underlying: error)
            }
            throw normalized(error)
        }
        trace(.enqueueAnswered)
        if result.succeeded {
            let revision = result.header.revision
            let mine = KeyValue(
                key: key, value: headValue, createRevision: revision, modRevision: revision, version: 1,
                lease: session.lease)
            return Position(revision: revision, head: mine, recordsAdmission: true)
        }
        guard case .txn(let inner) = result.responses.first, inner.responses.count >= 2,
            case .range(let head) = inner.responses[inner.responses.count - 1]
        else {
            throw EtcdError(code: .invalidResponse, message: "an enqueue txn answered \(result.responses)")
        }
        if inner.succeeded {
            var position = Position(revision: result.header.revision, head: head.keyValues.first)
            if inner.responses.count == 3, case .range(let ahead) = inner.responses[0] {
                position.admissionAtEnqueue = entry.rule.admission(of: position.revision, ahead: ahead.keyValues, in: prefix)
            }
            return position
        }
        guard case .range(let mine) = inner.responses[0], let existing = mine.keyValues.first else {
            throw EtcdError(code: .invalidResponse, message: "an enqueue txn found no key in its failure branch")
        }
        return Position(revision: existing.createRevision, head: head.keyValues.first, foundValue: existing.value)
    }

    /// Writes an admitted entry's key again (same value and lease, only while it is the entry
    /// created at `revision`), so a waiter watching it learns that its own position changed.
    ///
    /// Completes even when the caller is cancelled, and tries again while etcd cannot be reached,
    /// for up to a third of the session's TTL: a waiter left unannounced would wait until this
    /// entry is released. Past that (a long outage), it does wait that long.
    private func announceAdmission(_ entry: Entry, revision: Revision) async {
        let rewrite = Txn(
            if: [.createRevision(of: entry.key, .equal, revision)],
            then: [.put(entry.key, value: entry.value(admittedAt: Date()), lease: session.lease)])
        let store = self.store
        let session = self.session
        let giveUp = ContinuousClock.now + session.ttl / 3
        await finishEvenIfCancelled {
            var pause = Duration.milliseconds(50)
            while (try? await store.txn(rewrite, retry: .idempotent, timeout: nil)) == nil, session.isValid, ContinuousClock.now < giveUp {
                try? await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(500))
            }
        }
    }
}

extension LockQueue {
    /// Reports `step` to the session's observer, if it traces requests (a stored flag: no call otherwise).
    func trace(_ step: LockTraceStep) {
        if session.tracesRequests { session.observer.traced(step, name: name) }
    }
}

extension EtcdSession {
    /// A number never handed out before by this session, for entry keys.
    func nextEntryNumber() -> UInt64 {
        entryNumbers.add(1, ordering: .relaxed).oldValue
    }
}
