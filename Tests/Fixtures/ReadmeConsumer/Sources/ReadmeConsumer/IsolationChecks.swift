// Hand-written: how a Swift 6 app uses the public API from the main actor and from an actor.
// Compiled (never run) by scripts/check-readme; a line that stops compiling is an API regression.
import Etcd
import EtcdLock

/// Main-actor state, as an app's model or a service's state would be: not Sendable.
@MainActor final class AppModel {
    var log: [String] = []
    var leader: String?
    var lockCount = 0
}

/// Not Sendable: results of the scopes need not be.
final class Report {
    var lines: [String] = []
}

@MainActor func scopesOnTheMainActor(_ model: AppModel) async throws -> Report {
    let metrics = LockMetrics()
    let report = try await EtcdClient.withClient(.init(endpoints: ["http://127.0.0.1:2379"])) { client in
        model.log.append("connected to \(client.endpointURLs)")
        return try await EtcdSession.withSession(client, observer: metrics) { session in
            let mutex = try EtcdMutex("jobs", session: session)
            let report = Report()
            let token = try await mutex.withLock(timeout: .seconds(5)) { lock in
                model.lockCount += 1
                report.lines.append("held \(lock)")
                try await mutex.fenced(lock, Txn(then: [.put("/jobs/last", value: "\(lock.token)".utf8)]))
                // Re-entering the lock this task holds, still on the main actor.
                return try await mutex.withLock(reentrant: true) { inner in inner.token }
            }
            report.lines.append("token \(token)")
            switch try await mutex.tryLock() {
            case .acquired(let lock):
                let released = await mutex.unlockUntilDone(lock) { error in print("release failed: \(error)") }
                model.log.append("released: \(released)")
            case .heldByOther(let holder):
                model.log.append("held by \(holder.owner)")
            }
            return report
        }
    }
    model.log.append(metrics.prometheusText())
    model.log.append("acquired \(metrics.snapshot.acquired)")
    return report
}

@MainActor func electionOnTheMainActor(_ model: AppModel, client: EtcdClient) async throws {
    try await EtcdSession.withSession(client) { session in
        let election = try EtcdElection("scheduler", session: session)
        let leadership = try await election.campaign(value: "node-a".utf8, timeout: .seconds(5))
        try await election.proclaim("node-a:8080".utf8, as: leadership)
        model.leader = try await election.leader()?.valueString
        let changes = try await election.observe()
        for try await leader in changes {
            model.leader = leader?.valueString
            if leader == nil { break }
        }
        changes.cancel()
        try await election.resign(leadership)
    }
}

@MainActor func eventsOnTheMainActor(_ model: AppModel) async throws {
    var configuration = EtcdClient.Configuration(endpoints: ["http://127.0.0.1:2379"])
    configuration.logger = EtcdLogger(level: .debug) { event in print(event.message) }
    let events = LockEventStream()
    let following = Task { @MainActor in
        for await event in events {
            if case .acquired(let name, let token, _) = event { model.log.append("\(name) \(token)") }
        }
    }
    try await EtcdClient.withClient(configuration) { client in
        try await EtcdSession.withSession(client, observer: events) { session in
            try await EtcdMutex("jobs", session: session).withLock { _ in model.lockCount += 1 }
        }
    }
    events.finish()
    await following.value
}

@MainActor func watchOnTheMainActor(_ model: AppModel, client: EtcdClient) async throws {
    let watch = try await client.watch(.prefix("/config/"))
    for try await event in watch {
        model.log.append("\(event.kind) \(event.keyValue.key)")
        if model.log.count > 10 { watch.cancel() }
    }
}

/// A service built on an actor: its state is used inside the scopes without `self.`.
actor JobRunner {
    private var done = 0
    private let client: EtcdClient

    init(client: EtcdClient) { self.client = client }

    func runOnce() async throws -> Int {
        try await EtcdSession.withSession(client) { session in
            let mutex = try EtcdMutex("jobs", session: session)
            return try await mutex.withLock { lock in
                done += 1
                try await mutex.fenced(lock, Txn(then: [.put("/jobs/done", value: "\(done)".utf8)]))
                return done
            }
        }
    }
}
