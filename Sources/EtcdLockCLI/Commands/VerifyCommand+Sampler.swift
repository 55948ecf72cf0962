import Etcd
import EtcdLock
import LockVerification
import Synchronization

/// Reads the locks' queues from etcd every few hundred milliseconds during the run, so the
/// checker can tell whose keys were there while the clients said what they were doing.
final class QueueSampler: Sendable {
    private let client: EtcdClient
    private let prefixes: [EtcdKey]
    private let collected = Mutex<[QueueSample]>([])
    /// Whether keys' values are read too: the owner text that names a lock service client's
    /// attempt.
    private let readsOwners: Bool

    /// Samples the queues under `prefixes` (one per lock) through `client`.
    init(client: EtcdClient, prefixes: [EtcdKey], readsOwners: Bool = false) {
        self.client = client
        self.prefixes = prefixes
        self.readsOwners = readsOwners
    }

    /// Every sample so far.
    var samples: [QueueSample] { collected.withLock { $0 } }

    /// Samples every `interval` until cancelled. A read that fails (the cluster is electing, a
    /// member is down) is skipped: a sample's time window must stay short to mean something.
    func run(every interval: Duration) async {
        while !Task.isCancelled {
            for (lock, prefix) in prefixes.enumerated() {
                let sent = MonotonicTime.now()
                guard let result = try? await client.range(RangeRequest(.prefix(prefix), keysOnly: !readsOwners), timeout: .seconds(1))
                else { continue }
                let keys = result.keyValues.map {
                    QueueKey(
                        key: $0.key.description, prefix: prefix.description, attachedLease: $0.lease?.rawValue,
                        createRevision: $0.createRevision.rawValue, owner: readsOwners ? QueueEntryRecord($0.value).owner : nil)
                }
                let sample = QueueSample(lock: lock, sent: sent, received: MonotonicTime.now(), keys: keys)
                collected.withLock { $0.append(sample) }
            }
            try? await Task.sleep(for: interval)
        }
    }
}
