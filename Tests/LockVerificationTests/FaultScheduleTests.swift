import LockVerification
import Testing

@Suite("fault schedule", .timeLimit(.minutes(1)))
struct FaultScheduleTests {
    let ttl = Duration.seconds(2)

    @Test("the same seed gives the same schedule; another seed gives another")
    func deterministic() {
        let first = FaultSchedule(seed: 42, duration: .seconds(600), clients: 4, members: 3, ttl: ttl)
        let again = FaultSchedule(seed: 42, duration: .seconds(600), clients: 4, members: 3, ttl: ttl)
        let other = FaultSchedule(seed: 43, duration: .seconds(600), clients: 4, members: 3, ttl: ttl)
        #expect(first == again)
        #expect(first.fingerprint == again.fingerprint)
        #expect(first != other)
        #expect(first.fingerprint != other.fingerprint)
    }

    @Test("ten minutes plan well over 500 faults of every kind, link and replica faults included")
    func enoughFaults() {
        let schedule = FaultSchedule(seed: 7, duration: .seconds(600), clients: 4, members: 3, ttl: ttl, links: true, replicas: 2)
        #expect(schedule.faults.count >= 500)
        #expect(Set(schedule.faults.map(\.kind)) == Set(FaultKind.allCases))
        #expect(schedule.faults.allSatisfy { $0.offset < .seconds(600) })
    }

    @Test("each lane has one fault at a time; paused clients stay paused past their TTL")
    func lanes() {
        let schedule = FaultSchedule(seed: 11, duration: .seconds(300), clients: 3, members: 3, ttl: ttl, links: true, replicas: 2)
        let lanes = [(true, false), (false, false), (false, true)].map { schedule.lane(members: $0, links: $1) } + [schedule.replicaLane]
        #expect(lanes.map(\.count).reduce(0, +) == schedule.faults.count)
        for lane in lanes {
            #expect(!lane.isEmpty)
            for (earlier, later) in zip(lane, lane.dropFirst()) {
                #expect(earlier.offset + earlier.hold < later.offset)
            }
        }
        for fault in schedule.faults where fault.kind == .pauseClient {
            #expect(fault.hold > ttl)
        }
        #expect(schedule.faults.allSatisfy { $0.kind.targetsMember ? (1...3).contains($0.target) : (0..<3).contains($0.target) })
        #expect(schedule.replicaLane.allSatisfy { (0..<2).contains($0.target) })
    }

    @Test("replica faults are an extra lane: the other lanes of a seed stay as they were")
    func replicaLaneIsSeparate() {
        let without = FaultSchedule(seed: 5, duration: .seconds(120), clients: 4, members: 3, ttl: ttl, links: true)
        let with = FaultSchedule(seed: 5, duration: .seconds(120), clients: 4, members: 3, ttl: ttl, links: true, replicas: 3)
        #expect(with.faults.filter { !$0.kind.targetsReplica } == without.faults)
        #expect(!with.replicaLane.isEmpty)
        #expect(without.replicaLane.isEmpty)
    }

    @Test("without a cluster of 3 members under its control, only clients get faults")
    func clientFaultsOnly() {
        for members in [0, 1] {
            let schedule = FaultSchedule(seed: 1, duration: .seconds(60), clients: 2, members: members, ttl: ttl)
            #expect(!schedule.faults.isEmpty)
            #expect(schedule.faults.allSatisfy { !$0.kind.targetsMember && !$0.kind.targetsLink })
        }
    }
}
