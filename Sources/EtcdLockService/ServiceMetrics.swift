import Etcd
import EtcdLock
import Synchronization

/// The service's counters, rendered as Prometheus text with the library's ``LockMetrics``
/// (wait histogram, waiters) after them. Every label value comes from a bounded set: routes,
/// status codes, results. Lock names never become labels.
final class ServiceMetrics: Sendable {
    /// The library's observer, passed to every acquisition.
    let locks = LockMetrics()

    private struct State {
        var acquisitions: [String: Int] = [:]
        var requests: [String: Int] = [:]
        var renewals: [String: Int] = [:]
        var releases: [String: Int] = [:]
        var forceReleases = 0
        var waiting = 0
        var etcdErrors: [String: Int] = [:]
    }

    private let state = Mutex(State())

    /// Results of `:acquire`: acquired, held, timeout, cancelled, error; undelivered (acquired, then
    /// released because the answer did not reach the caller; also counted as acquired).
    func acquisition(_ result: String) { state.withLock { $0.acquisitions[result, default: 0] += 1 } }
    /// One HTTP request answered.
    func request(route: String, status: Int) { state.withLock { $0.requests["route=\"\(route)\",status=\"\(status)\"", default: 0] += 1 } }
    /// Results of `:renew`: held, lost (expired or removed holders), error.
    func renewal(_ result: String) { state.withLock { $0.renewals[result, default: 0] += 1 } }
    /// Results of `:release`: released, lost, error.
    func release(_ result: String) { state.withLock { $0.releases[result, default: 0] += 1 } }
    func forceReleased() { state.withLock { $0.forceReleases += 1 } }
    /// A request that failed on an etcd error (directly, or under a lock error): counted by its code.
    func failed(_ error: any Error) {
        guard let code = (error as? EtcdError)?.code ?? (error as? LockError)?.underlying?.code else { return }
        state.withLock { $0.etcdErrors["\(code)", default: 0] += 1 }
    }

    /// Takes a waiter's place, unless `limit` are waiting already.
    func startWaiting(limit: Int) -> Bool {
        state.withLock { state in
            guard state.waiting < limit else { return false }
            state.waiting += 1
            return true
        }
    }

    func stopWaiting() { state.withLock { $0.waiting -= 1 } }

    /// The exposition text, with `etcdRequests` the replica's etcd client has sent.
    func prometheusText(etcdRequests: Int) -> String {
        let state = self.state.withLock { $0 }
        var text = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Int)]) {
            text += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples.sorted(by: { $0.labels < $1.labels }) {
                text += sample.labels.isEmpty ? "\(name) \(sample.value)\n" : "\(name){\(sample.labels)} \(sample.value)\n"
            }
        }
        family(
            "etcdlock_service_acquisitions_total", "counter", "Lock acquisitions through the service, by result.",
            state.acquisitions.map { ("result=\"\($0.key)\"", $0.value) })
        family(
            "etcdlock_service_renewals_total", "counter",
            "Renewals by result; result=\"lost\" counts holders found expired or removed (lost without release).",
            state.renewals.map { ("result=\"\($0.key)\"", $0.value) })
        family(
            "etcdlock_service_releases_total", "counter", "Releases by result.",
            state.releases.map { ("result=\"\($0.key)\"", $0.value) })
        family("etcdlock_service_force_releases_total", "counter", "Holders removed by an admin.", [("", state.forceReleases)])
        family("etcdlock_service_long_polls", "gauge", "Acquire long-polls waiting on this replica.", [("", state.waiting)])
        family("etcdlock_service_etcd_requests_total", "counter", "Requests this replica sent to etcd.", [("", etcdRequests)])
        family(
            "etcdlock_service_etcd_errors_total", "counter", "HTTP requests that failed on an etcd error, by its code.",
            state.etcdErrors.map { ("code=\"\($0.key)\"", $0.value) })
        family(
            "etcdlock_service_http_requests_total", "counter", "HTTP requests by route and status.",
            state.requests.map { ($0.key, $0.value) })
        return text + locks.prometheusText()
    }
}
