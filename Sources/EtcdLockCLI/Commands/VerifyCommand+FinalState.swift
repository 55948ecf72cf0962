import Etcd
import EtcdLock
import LockVerification

/// Reads what the checker needs from etcd once every client stopped.
struct FinalStateReader: Sendable {
    let client: EtcdClient
    /// The revision before the run's first write.
    let startRevision: Revision
    /// The recipe under test: whose keys hold in a queue.
    let recipe: VerifiedRecipe

    /// Waits (up to `limit`) for the locks' keys and the clients' leases to disappear, as the
    /// TTLs of killed clients run out; returns what is still there.
    func leftovers(lockPrefixes: [EtcdKey], leases: Set<Int64>, within limit: Duration) async -> (keys: [String], leases: [Int64]) {
        let deadline = ContinuousClock.now + limit
        var remainingLeases = leases
        var keys: [String] = []
        while true {
            do {
                keys = []
                for prefix in lockPrefixes {
                    keys += try await client.range(RangeRequest(.prefix(prefix), keysOnly: true)).keyValues.map(\.key.description)
                }
                if keys.isEmpty {
                    for lease in remainingLeases.sorted() {
                        if try await client.timeToLive(LeaseID(lease), timeout: .seconds(2)).isExpired {
                            remainingLeases.remove(lease)
                        }
                    }
                }
                if keys.isEmpty && remainingLeases.isEmpty { return ([], []) }
            } catch {
                // The cluster may still be settling after the last fault; ask again until the deadline.
            }
            guard ContinuousClock.now < deadline else { return (keys, remainingLeases.sorted()) }
            try? await Task.sleep(for: .milliseconds(250))
        }
    }

    /// The register's final count, and every write of it from etcd's history with the holders of
    /// the lock at `lockPrefix` at that revision (`nil` when the history cannot be read).
    func registerHistory(register: EtcdKey, lockPrefix: EtcdKey) async throws -> (finalCount: Int, writes: [RegisterWrite]?) {
        let final = try await client.range(RangeRequest(.key(register)))
        guard let last = final.keyValues.first else { return (0, []) }
        let finalCount = RegisterValue(parsing: last.valueString)?.count ?? -1
        var writes: [RegisterWrite] = []
        do {
            let watch = try await client.watch(.key(register), options: WatchOptions(startRevision: startRevision.next))
            defer { watch.cancel() }
            for try await event in watch {
                guard event.kind == .put else { continue }
                writes.append(
                    RegisterWrite(
                        revision: event.revision.rawValue, value: RegisterValue(parsing: event.keyValue.valueString),
                        holderToken: nil))
                if event.revision >= last.modRevision { break }
            }
        } catch let error as EtcdError where error.code == .compacted {
            return (finalCount, nil)
        }
        for index in writes.indices {
            writes[index].holderTokens = try await holders(at: writes[index].revision, lockPrefix: lockPrefix)
        }
        return (finalCount, writes)
    }

    /// The holders' tokens of the lock at `lockPrefix` at each revision at which one of `events`'
    /// fenced reads was answered (`nil` when that history was compacted).
    func readHolders(of events: [HistoryEvent], lockPrefix: EtcdKey) async throws -> [Int64: [Int64]]? {
        var holders: [Int64: [Int64]] = [:]
        for event in events {
            guard case .readAccepted(_, _, let revision) = event.step, holders[revision] == nil else { continue }
            do {
                holders[revision] = try await self.holders(at: revision, lockPrefix: lockPrefix)
            } catch let error as EtcdError where error.code == .compacted {
                return nil
            }
        }
        return holders
    }

    /// The tokens of the keys that held the lock at `lockPrefix` at `revision`, by the recipe's rule.
    private func holders(at revision: Int64, lockPrefix: EtcdKey) async throws -> [Int64] {
        let queue = try await client.range(RangeRequest(.prefix(lockPrefix), revision: Revision(revision), keysOnly: true))
        let keys = queue.keyValues.map {
            QueueKey(
                key: $0.key.description, prefix: lockPrefix.description, attachedLease: $0.lease?.rawValue,
                createRevision: $0.createRevision.rawValue)
        }
        return recipe.holders(in: keys).map(\.createRevision)
    }
}
