import Etcd
import Synchronization

/// A built-in ``LockObserver`` that counts events and keeps wait and hold-time histograms,
/// and renders them in the Prometheus text format.
///
/// ```swift
/// let metrics = LockMetrics()
/// try await EtcdSession.withSession(client, observer: metrics) { session in … }
/// print(metrics.prometheusText())
/// ```
/// Metrics carry no per-lock labels, so their number stays bounded whatever the lock names.
public final class LockMetrics: LockObserver, Sendable {
    /// Histogram bucket upper bounds, in seconds.
    public static let bucketBounds: [Double] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60]

    /// A point-in-time copy of the metrics.
    public struct Snapshot: Sendable, Hashable {
        /// Locks acquired.
        public var acquired = 0
        /// Locks released.
        public var released = 0
        /// Acquisitions that timed out.
        public var timedOut = 0
        /// Locks lost while held.
        public var ownershipLost = 0
        /// Sessions lost.
        public var sessionsLost = 0
        /// Keepalives that failed.
        public var keepAliveFailures = 0
        /// Tasks waiting for a lock right now.
        public var currentWaiters = 0
        /// Wait-time histogram: counts per bucket of ``LockMetrics/bucketBounds``, plus one overflow bucket.
        public var waitBuckets = [Int](repeating: 0, count: LockMetrics.bucketBounds.count + 1)
        /// Sum of wait times, in seconds.
        public var waitSeconds = 0.0
        /// Hold-time histogram, as ``waitBuckets``.
        public var holdBuckets = [Int](repeating: 0, count: LockMetrics.bucketBounds.count + 1)
        /// Sum of hold times, in seconds.
        public var holdSeconds = 0.0
    }

    private let state = Mutex(Snapshot())

    /// Creates empty metrics.
    public init() {}

    /// The current values.
    public var snapshot: Snapshot { state.withLock { $0 } }

    /// Counts a new waiter.
    public func waitStarted(name: String) { state.withLock { $0.currentWaiters += 1 } }
    /// Counts a waiter less.
    public func waitEnded(name: String) { state.withLock { $0.currentWaiters -= 1 } }

    /// Counts the acquisition and records its wait time.
    public func acquired(name: String, token: FencingToken, waited: Duration) {
        let seconds = Self.seconds(waited)
        state.withLock {
            $0.acquired += 1
            $0.waitBuckets[Self.bucket(seconds)] += 1
            $0.waitSeconds += seconds
        }
    }

    /// Counts the release and records the hold time.
    public func released(name: String, token: FencingToken, held: Duration) {
        let seconds = Self.seconds(held)
        state.withLock {
            $0.released += 1
            $0.holdBuckets[Self.bucket(seconds)] += 1
            $0.holdSeconds += seconds
        }
    }

    /// Counts the time-out.
    public func timedOut(name: String, waited: Duration) { state.withLock { $0.timedOut += 1 } }
    /// Counts the lost lock.
    public func ownershipLost(name: String, token: FencingToken) { state.withLock { $0.ownershipLost += 1 } }
    /// Counts the lost session.
    public func sessionLost(lease: LeaseID, reason: SessionLoss) { state.withLock { $0.sessionsLost += 1 } }
    /// Counts the failed keepalive.
    public func keepAliveFailed(lease: LeaseID, error: any Error) { state.withLock { $0.keepAliveFailures += 1 } }

    /// The metrics in the Prometheus text exposition format.
    public func prometheusText() -> String {
        let snapshot = self.snapshot
        var text = ""
        func counter(_ name: String, _ help: String, _ value: Int) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) counter\n\(name) \(value)\n"
        }
        counter("etcdlock_acquired_total", "Locks acquired.", snapshot.acquired)
        counter("etcdlock_released_total", "Locks released.", snapshot.released)
        counter("etcdlock_timed_out_total", "Lock acquisitions that timed out.", snapshot.timedOut)
        counter("etcdlock_ownership_lost_total", "Locks lost while held.", snapshot.ownershipLost)
        counter("etcdlock_sessions_lost_total", "Sessions whose lease was lost.", snapshot.sessionsLost)
        counter("etcdlock_keepalive_failures_total", "Keepalives that failed.", snapshot.keepAliveFailures)
        text += "# HELP etcdlock_waiters Tasks waiting for a lock.\n# TYPE etcdlock_waiters gauge\n"
        text += "etcdlock_waiters \(snapshot.currentWaiters)\n"
        func histogram(_ name: String, _ help: String, _ buckets: [Int], _ sum: Double) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) histogram\n"
            var cumulative = 0
            for (index, bound) in Self.bucketBounds.enumerated() {
                cumulative += buckets[index]
                text += "\(name)_bucket{le=\"\(bound)\"} \(cumulative)\n"
            }
            cumulative += buckets[Self.bucketBounds.count]
            text += "\(name)_bucket{le=\"+Inf\"} \(cumulative)\n\(name)_sum \(sum)\n\(name)_count \(cumulative)\n"
        }
        histogram("etcdlock_wait_seconds", "Time from asking for a lock to holding it.", snapshot.waitBuckets, snapshot.waitSeconds)
        histogram("etcdlock_hold_seconds", "Time a lock was held.", snapshot.holdBuckets, snapshot.holdSeconds)
        return text
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    private static func bucket(_ seconds: Double) -> Int {
        bucketBounds.firstIndex { seconds <= $0 } ?? bucketBounds.count
    }
}
