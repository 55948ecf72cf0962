/// A kind of fault the verifier's nemesis injects.
public enum FaultKind: String, CaseIterable, Sendable, Comparable {
    /// SIGKILL an etcd member, restart it after the hold.
    case killMember = "kill-member"
    /// SIGKILL whichever member leads at that moment, restart it after the hold.
    case killLeader = "kill-leader"
    /// SIGSTOP an etcd member, SIGCONT it after the hold (a hung member, a long GC pause).
    case pauseMember = "pause-member"
    /// Ask the leader to hand leadership to another member.
    case moveLeader = "move-leader"
    /// SIGSTOP a client process for longer than its session TTL, then SIGCONT it: it wakes
    /// up believing it holds the lock, and fencing must reject what it writes. (The verifier
    /// pauses whichever client holds the lock when one does, the planned one otherwise.)
    case pauseClient = "pause-client"
    /// SIGKILL a client process (its lease expires after the TTL), start a new one after the hold.
    case killClient = "kill-client"
    /// The link between a client and a member accepts connections and bytes but never answers.
    case blackholeLink = "blackhole-link"
    /// The link between a client and a member delivers every chunk late (by a third of the hold).
    case delayLink = "delay-link"
    /// The link between a client and a member resets its connections and every new one.
    case resetLink = "reset-link"
    /// The link between a client and a member delivers requests but drops the responses and
    /// then resets the connection: the client cannot know whether its write applied.
    case dropResponses = "drop-responses"
    /// SIGKILL a lock service replica (`verify --via-service`), restart it after the hold: its
    /// long-polls end, and its waiters' keys stay until their leases run out.
    case killReplica = "kill-replica"
    /// SIGSTOP a lock service replica, SIGCONT it after the hold: its callers time out and move
    /// on, its waiters' leases may expire meanwhile.
    case pauseReplica = "pause-replica"

    /// Whether the fault targets an etcd member (and needs a cluster the verifier controls).
    public var targetsMember: Bool {
        switch self {
        case .killMember, .killLeader, .pauseMember, .moveLeader: true
        case .pauseClient, .killClient, .blackholeLink, .delayLink, .resetLink, .dropResponses, .killReplica, .pauseReplica: false
        }
    }

    /// Whether the fault targets a lock service replica (and needs replicas the verifier runs).
    public var targetsReplica: Bool { self == .killReplica || self == .pauseReplica }

    /// Whether the fault targets the network between a client and a member (and needs the
    /// verifier's fault-injecting proxies).
    public var targetsLink: Bool {
        switch self {
        case .blackholeLink, .delayLink, .resetLink, .dropResponses: true
        case .killMember, .killLeader, .pauseMember, .moveLeader, .pauseClient, .killClient, .killReplica, .pauseReplica: false
        }
    }

    public static func < (lhs: FaultKind, rhs: FaultKind) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One fault of a schedule.
public struct PlannedFault: Sendable, Hashable, CustomStringConvertible {
    /// When to inject it, from the start of the run (or later, if the previous fault of its
    /// lane took longer to heal).
    public var offset: Duration
    /// What to do.
    public var kind: FaultKind
    /// Which member (1-based) or client (0-based); for `killLeader` and `moveLeader`, a member
    /// to fall back on when no leader is known, or the choice among the followers. Link faults
    /// target a client; the nemesis picks the member that client talked to last.
    public var target: Int
    /// How long the fault lasts before it is healed.
    public var hold: Duration

    public var description: String {
        let seconds = Double(offset.components.seconds) + Double(offset.components.attoseconds) / 1e18
        let holdMilliseconds = hold.components.seconds * 1000 + hold.components.attoseconds / 1_000_000_000_000_000
        let subject = kind.targetsMember ? "member \(target)"
            : kind.targetsLink ? "link of client \(target)" : kind.targetsReplica ? "replica \(target)" : "client \(target)"
        return "\(String(format2: seconds))s \(kind.rawValue) \(subject) hold \(holdMilliseconds)ms"
    }
}

/// The faults a verification run injects, fixed in advance by a seed: the same seed, duration
/// and shape give the same schedule (`fingerprint` shows it at a glance).
///
/// Faults run in up to four lanes, each one fault at a time: etcd members (at most one member
/// faulty at once, so a 3-member cluster keeps its quorum and the run keeps making progress),
/// client processes, links between a client and a member, and lock service replicas. Member
/// faults are planned only for clusters of 3 or more members, link faults only when the clients
/// talk through proxies, replica faults only when they take their locks through replicas the
/// verifier runs (at least 2, so one is always up).
public struct FaultSchedule: Sendable, Hashable {
    /// Every fault, by offset.
    public var faults: [PlannedFault]

    /// Plans a schedule.
    ///
    /// - Parameters:
    ///   - seed: fixes every choice.
    ///   - duration: faults start before this offset.
    ///   - clients: how many client processes run.
    ///   - members: how many etcd members the verifier controls (0 when it controls none).
    ///   - ttl: the clients' session TTL; a paused client stays paused past it.
    ///   - links: whether clients talk to members through fault-injecting proxies.
    ///   - replicas: how many lock service replicas the clients go through (0: none).
    public init(
        seed: UInt64, duration: Duration, clients: Int, members: Int, ttl: Duration, links: Bool = false, replicas: Int = 0
    ) {
        var faults: [PlannedFault] = []
        var memberRandom = SeededGenerator(seed: seed)
        var clientRandom = SeededGenerator(seed: seed ^ 0x5DEE_CE66_D1CE_4E5B)
        let start = Duration.seconds(2)
        if members >= 3 {
            var offset = start
            let kinds: [FaultKind] = [.killMember, .killLeader, .pauseMember, .moveLeader]
            while offset < duration {
                let kind = kinds.randomElement(using: &memberRandom)!
                let hold: Duration = kind == .moveLeader ? .zero : memberRandom.milliseconds(in: 800...2500)
                let target = Int.random(in: 1...members, using: &memberRandom)
                faults.append(PlannedFault(offset: offset, kind: kind, target: target, hold: hold))
                offset += hold + memberRandom.milliseconds(in: 400...1200)
            }
        }
        if clients > 0 {
            var offset = start + clientRandom.milliseconds(in: 0...1000)
            while offset < duration {
                let kind: FaultKind = Bool.random(using: &clientRandom) ? .pauseClient : .killClient
                let hold = kind == .pauseClient
                    ? ttl + clientRandom.milliseconds(in: 1000...2500) : clientRandom.milliseconds(in: 200...1000)
                let target = Int.random(in: 0..<clients, using: &clientRandom)
                faults.append(PlannedFault(offset: offset, kind: kind, target: target, hold: hold))
                offset += hold + clientRandom.milliseconds(in: 300...1200)
            }
        }
        if links, clients > 0 {
            var linkRandom = SeededGenerator(seed: seed ^ 0x2545_F491_4F6C_DD1D)
            var offset = start + linkRandom.milliseconds(in: 0...1000)
            let kinds: [FaultKind] = [.blackholeLink, .delayLink, .resetLink, .dropResponses]
            while offset < duration {
                let kind = kinds.randomElement(using: &linkRandom)!
                let hold = linkRandom.milliseconds(in: 800...2500)
                let target = Int.random(in: 0..<clients, using: &linkRandom)
                faults.append(PlannedFault(offset: offset, kind: kind, target: target, hold: hold))
                offset += hold + linkRandom.milliseconds(in: 300...1000)
            }
        }
        if replicas >= 2 {
            var replicaRandom = SeededGenerator(seed: seed ^ 0x9E37_79B9_7F4A_7C15)
            var offset = start + replicaRandom.milliseconds(in: 0...1000)
            while offset < duration {
                let kind: FaultKind = Bool.random(using: &replicaRandom) ? .killReplica : .pauseReplica
                let hold = replicaRandom.milliseconds(in: 500...3000)
                let target = Int.random(in: 0..<replicas, using: &replicaRandom)
                faults.append(PlannedFault(offset: offset, kind: kind, target: target, hold: hold))
                offset += hold + replicaRandom.milliseconds(in: 500...1500)
            }
        }
        self.faults = faults.sorted { ($0.offset, $0.kind) < ($1.offset, $1.kind) }
    }

    /// The faults of one lane: members, or clients (`links` picks the link lane among those).
    public func lane(members: Bool, links: Bool = false) -> [PlannedFault] {
        faults.filter {
            !$0.kind.targetsReplica && $0.kind.targetsMember == members && (members || $0.kind.targetsLink == links)
        }
    }

    /// The faults of the lock service replicas' lane.
    public var replicaLane: [PlannedFault] { faults.filter(\.kind.targetsReplica) }

    /// A short hash of the whole schedule (FNV-1a over its description), to compare runs.
    public var fingerprint: String {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in faults.map(\.description).joined(separator: "\n").utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
        }
        let text = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}

extension String {
    /// `value` with two decimals, without Foundation's locale-dependent formatting.
    init(format2 value: Double) {
        let hundredths = Int((value * 100).rounded())
        let fraction = hundredths % 100
        self = "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }
}
