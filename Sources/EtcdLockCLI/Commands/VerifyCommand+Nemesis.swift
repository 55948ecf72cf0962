import Etcd
import Foundation
import LockVerification

/// Injects a ``FaultSchedule``'s faults: one lane for etcd members, one for client processes,
/// each one fault at a time, both stopping at the end of the run with every fault healed.
struct Nemesis: Sendable {
    /// A cluster started by `scripts/etcd-cluster` whose members the nemesis may kill and pause.
    struct Cluster: Sendable {
        var directory: String
        var client: EtcdClient
        var members: Int
    }

    let schedule: FaultSchedule
    let cluster: Cluster?
    let fleet: ClientFleet
    /// The proxies between clients and members, when link faults are on.
    let mesh: ProxyMesh?
    /// The lock service replicas the clients go through, with `--via-service`.
    let replicas: ServiceReplicaSet?
    let tally: FaultTally
    let start: ContinuousClock.Instant
    let end: ContinuousClock.Instant
    let verbose: Bool

    /// Runs both lanes to the end of the run.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            if let cluster {
                group.addTask { await runMemberLane(cluster) }
            }
            group.addTask { await runClientLane() }
            if let mesh {
                group.addTask { await runLinkLane(mesh) }
            }
            if let replicas {
                group.addTask { await runReplicaLane(replicas) }
            }
        }
    }

    /// Waits until `fault` is due; `false` when the run ends (or the nemesis is cancelled) first.
    private func waitFor(_ fault: PlannedFault) async -> Bool {
        let due = start + fault.offset
        if due > .now { try? await Task.sleep(until: due) }
        return !Task.isCancelled && ContinuousClock.now < end
    }

    /// Holds a fault for `hold`, cut short by the end of the run or by cancellation (a fault is
    /// always healed: see ``healing(_:)``).
    private func hold(_ hold: Duration) async {
        let until = min(ContinuousClock.now + hold, end)
        if until > .now { try? await Task.sleep(until: until) }
    }

    /// Runs a fault's healing to its end even when the nemesis was cancelled (a signal cut the
    /// run short): a member left frozen or killed, or a client left stopped, outlives verify.
    private func healing(_ heal: @escaping @Sendable () async -> Void) async {
        await Task { await heal() }.value
    }

    /// Counts `fault` as injected now (its log entry is completed by ``healed(_:)``).
    private func note(_ fault: PlannedFault, target: Int? = nil, member: Int = 0, _ text: String) async {
        await tally.begin(InjectedFault(kind: fault.kind, target: target ?? fault.target, member: member, start: MonotonicTime.now(), end: 0))
        if verbose {
            let seconds = Double((ContinuousClock.now - start).components.seconds)
            Console.out("fault at \(Int(seconds))s: \(text)")
        }
    }

    private func runClientLane() async {
        for fault in schedule.lane(members: false) {
            guard await waitFor(fault) else { return }
            switch fault.kind {
            case .pauseClient:
                // A holder is paused if one shows up soon: it wakes up past its TTL believing it
                // still holds the lock, the case fencing exists for.
                let holder = await holderSoon()
                let target = holder ?? fault.target
                guard await fleet.pause(target) else { await tally.skip(fault.kind); continue }
                await note(fault, target: target, "SIGSTOP client \(target)\(holder == nil ? "" : " (holding the lock)") for \(fault.hold)")
                await hold(fault.hold)
                await healing { await fleet.resume(target) }
                await tally.healed(fault.kind)
            case .killClient:
                guard await fleet.kill(fault.target, restartAfter: fault.hold) else { await tally.skip(fault.kind); continue }
                await note(fault, "SIGKILL client \(fault.target), restart after \(fault.hold)")
                await hold(fault.hold)
                await tally.healed(fault.kind)
            default:
                continue
            }
        }
    }

    private func runMemberLane(_ cluster: Cluster) async {
        for fault in schedule.lane(members: true) {
            guard await waitFor(fault) else { return }
            switch fault.kind {
            case .killMember, .killLeader:
                let leader = fault.kind == .killLeader ? await self.leader(cluster) : nil
                let member = leader ?? fault.target
                guard await script(cluster, "kill-member", member) else { await tally.skip(fault.kind); continue }
                await note(fault, target: member, "SIGKILL etcd member \(member)\(leader == nil ? "" : " (the leader)"), restart after \(fault.hold)")
                await hold(fault.hold)
                await healing {
                    if !(await script(cluster, "start-member", member)) {
                        await tally.problem("etcd member \(member) did not restart healthy")
                    }
                }
                await tally.healed(fault.kind)
            case .pauseMember:
                guard await script(cluster, "stop-member", fault.target) else { await tally.skip(fault.kind); continue }
                await note(fault, "SIGSTOP etcd member \(fault.target) for \(fault.hold)")
                await hold(fault.hold)
                await healing { _ = await script(cluster, "cont-member", fault.target) }
                await tally.healed(fault.kind)
            case .moveLeader:
                guard let leader = await leader(cluster) else { await tally.skip(fault.kind); continue }
                let followers = (1...cluster.members).filter { $0 != leader }
                let target = followers[fault.target % followers.count]
                do {
                    let id = try await cluster.client.status(endpointIndex: target - 1, timeout: .seconds(2)).header.memberID
                    try await cluster.client.moveLeader(to: id, endpointIndex: leader - 1, timeout: .seconds(5))
                    await note(fault, target: target, "moved leadership from member \(leader) to member \(target)")
                    await tally.healed(fault.kind)
                } catch {
                    await tally.skip(fault.kind)
                }
            default:
                continue
            }
        }
    }

    private func runLinkLane(_ mesh: ProxyMesh) async {
        for fault in schedule.lane(members: false, links: true) {
            guard await waitFor(fault) else { return }
            // The link the client uses now: a fault on an idle link would change nothing.
            let member = mesh.lastUsedMember(client: fault.target) ?? 1
            let mode: LinkMode
            switch fault.kind {
            case .blackholeLink: mode = .blackhole
            case .delayLink: mode = .delay(fault.hold / 3)
            case .resetLink: mode = .reset
            case .dropResponses: mode = .dropResponses
            default: continue
            }
            mesh.set(client: fault.target, member: member, mode)
            await note(fault, member: member, "\(fault.kind.rawValue) between client \(fault.target) and member \(member) for \(fault.hold)")
            await hold(fault.hold)
            mesh.set(client: fault.target, member: member, .pass)
            await tally.healed(fault.kind)
        }
    }

    private func runReplicaLane(_ replicas: ServiceReplicaSet) async {
        for fault in schedule.replicaLane {
            guard await waitFor(fault) else { return }
            switch fault.kind {
            case .killReplica:
                guard await replicas.kill(fault.target) else { await tally.skip(fault.kind); continue }
                await note(fault, "SIGKILL service replica \(fault.target), restart after \(fault.hold)")
                await hold(fault.hold)
                await healing {
                    if !(await replicas.restart(fault.target)) {
                        await tally.problem("service replica \(fault.target) did not restart")
                    }
                }
                await tally.healed(fault.kind)
            case .pauseReplica:
                guard await replicas.pause(fault.target) else { await tally.skip(fault.kind); continue }
                await note(fault, "SIGSTOP service replica \(fault.target) for \(fault.hold)")
                await hold(fault.hold)
                await healing { await replicas.resume(fault.target) }
                await tally.healed(fault.kind)
            default:
                continue
            }
        }
    }

    /// A client that holds the lock, watching its output for up to 1.5 seconds.
    private func holderSoon() async -> Int? {
        // Best of all a holder that has not written yet: paused there, it wakes up past its TTL and
        // writes believing it holds the lock. Otherwise any holder.
        let deadline = ContinuousClock.now + .milliseconds(1500)
        while ContinuousClock.now < deadline {
            if let holder = fleet.log.holderBeforeWrite { return holder }
            try? await Task.sleep(for: .milliseconds(2))
        }
        return fleet.log.holder
    }

    /// The member (1-based) that says it leads, if one answers in time.
    private func leader(_ cluster: Cluster) async -> Int? {
        for index in 0..<cluster.members {
            if let status = try? await cluster.client.status(endpointIndex: index, timeout: .seconds(1)), status.isLeader {
                return index + 1
            }
        }
        return nil
    }

    /// Runs `scripts/etcd-cluster COMMAND MEMBER --dir DIR`; whether it succeeded.
    private func script(_ cluster: Cluster, _ command: String, _ member: Int) async -> Bool {
        let arguments = [ChildProcess.scriptPath("etcd-cluster"), command, String(member), "--dir", cluster.directory]
        guard let process = try? ChildProcess(command: arguments, environment: [:], onOutputLine: { _ in }) else {
            return false
        }
        return await process.wait() == 0
    }
}

/// Counts the faults injected, by kind, logs when each began and was healed, and notes what
/// could not be done.
actor FaultTally {
    private(set) var injected: [FaultKind: Int] = [:]
    private(set) var skipped: [FaultKind: Int] = [:]
    private(set) var problems: [String] = []
    /// Every fault injected, healed ones with their end; open ones end "now" when read.
    private var log: [InjectedFault] = []
    /// The open fault of each lane (member, client, link), by position in ``log``.
    private var open: [Int: Int] = [:]

    /// Logs `fault` as begun (its lane's previous fault is healed by then).
    func begin(_ fault: InjectedFault) {
        injected[fault.kind, default: 0] += 1
        open[Self.lane(fault.kind)] = log.count
        log.append(fault)
    }

    /// Logs the open fault of `kind`'s lane (one fault at a time per lane) as healed now.
    func healed(_ kind: FaultKind) {
        guard let position = open.removeValue(forKey: Self.lane(kind)) else { return }
        log[position].end = max(log[position].start, MonotonicTime.now())
    }

    private static func lane(_ kind: FaultKind) -> Int {
        kind.targetsMember ? 0 : kind.targetsLink ? 2 : kind.targetsReplica ? 3 : 1
    }

    /// Every fault injected so far (faults not healed yet end now).
    var faults: [InjectedFault] {
        let now = MonotonicTime.now()
        return log.enumerated().map { position, fault in
            var fault = fault
            if open.values.contains(position) { fault.end = now }
            return fault
        }
    }
    func skip(_ kind: FaultKind) { skipped[kind, default: 0] += 1 }
    func problem(_ text: String) { problems.append(text) }

    var total: Int { injected.values.reduce(0, +) }
}
