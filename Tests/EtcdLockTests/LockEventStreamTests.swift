import Etcd
import EtcdLock
import Testing

/// Main-actor state, as an app's model would be.
@MainActor private final class Status {
    var lines: [String] = []
}

@Suite("lock events as an async sequence", .timeLimit(.minutes(1)))
struct LockEventStreamTests {
    @Test("events arrive in order and can be handled on the main actor; finish ends iteration")
    @MainActor func inOrderOnTheMainActor() async {
        let events = LockEventStream()
        let observer: any LockObserver = events
        observer.waitStarted(name: "a")
        observer.acquired(name: "a", token: FencingToken(rawValue: 7), waited: .milliseconds(3))
        observer.sessionLost(lease: LeaseID(rawValue: 0x2a), reason: .leaseExpired)
        events.finish()
        observer.released(name: "a", token: FencingToken(rawValue: 7), held: .seconds(1))
        let status = Status()
        for await event in events { status.lines.append("\(event)") }
        #expect(status.lines.count == 3)
        #expect(status.lines.first == "waiting for a")
        #expect(status.lines.last?.hasPrefix("session ") == true)
    }

    @Test("an observer nobody iterates keeps only the newest events")
    func bounded() async {
        let events = LockEventStream(bufferingNewest: 2)
        for index in 0..<5 { events.waitStarted(name: "\(index)") }
        events.finish()
        var names: [String] = []
        for await event in events {
            if case .waitStarted(let name) = event { names.append(name) }
        }
        #expect(names == ["3", "4"])
    }
}
