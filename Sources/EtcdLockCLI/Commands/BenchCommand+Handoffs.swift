import Etcd
import EtcdLock
import Foundation
import Synchronization

extension BenchCommand {
    /// 16 sessions contend for one lock; a handoff is the time from one holder's release to the
    /// next holder running (both in this process, on one monotonic clock). Each session traces its
    /// queue's requests (``LockObserver/tracesRequests``), which gives where a handoff's time goes
    /// and the etcd requests a contended cycle costs, by kind.
    func measureHandoffs(_ client: EtcdClient, contenders: Int) async throws {
        let name = "\(key)-handoff-\(UUID().uuidString.prefix(8))"
        let recorder = HandoffRecorder(cycles: max(requests / 4, contenders * 4))
        let traces = (0..<contenders).map { _ in StepTrace() }
        let requestsBefore = client.requestsSent
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { group in
            for contender in 0..<contenders {
                group.addTask {
                    try await EtcdSession.withSession(client, ttl: .seconds(30), observer: traces[contender]) { session in
                        let mutex = try EtcdMutex(name, session: session, namespace: "bench")
                        while true {
                            let lock = try await mutex.lock()
                            let more = recorder.acquired(by: contender)
                            recorder.releasing(by: contender)
                            try await mutex.unlock(lock)
                            if !more { return }
                        }
                    }
                }
            }
            try await group.waitForAll()
        }
        let elapsed = ContinuousClock.now - start
        let samples = recorder.handoffs
        let requestsSpent = client.requestsSent - requestsBefore - 2 * contenders
        try await report("handoff_16_contenders", (samples, .zero))
        let cycles = samples.count + 1
        Console.out(
            String(
                format: #"{"client":"EtcdClient","op":"contended_16","cycles":%d,"cycles_per_second":%.1f,"requests_per_handoff":%.2f}"#,
                cycles, Double(cycles) / Self.seconds(elapsed), Double(requestsSpent) / Double(max(1, samples.count))))
        Console.out(HandoffBreakdown(turns: recorder.turns, traces: traces, requestsSpent: requestsSpent).json)
    }
}

/// Handoff timestamps shared by the contending tasks of `bench locks`.
private final class HandoffRecorder: Sendable {
    /// One holder's turn: who, when its `lock()` returned, and when it began to release.
    struct Turn {
        var contender: Int
        var acquired: ContinuousClock.Instant
        var releasing: ContinuousClock.Instant?
    }

    private struct State {
        var turns: [Turn] = []
        var remaining: Int
    }

    private let state: Mutex<State>

    init(cycles: Int) { state = Mutex(State(remaining: cycles)) }

    /// Records a turn and returns whether to keep cycling.
    func acquired(by contender: Int) -> Bool {
        let now = ContinuousClock.now
        return state.withLock { state in
            state.turns.append(Turn(contender: contender, acquired: now))
            state.remaining -= 1
            return state.remaining >= 0
        }
    }

    /// Notes the instant just before the current holder releases.
    func releasing(by contender: Int) {
        let now = ContinuousClock.now
        state.withLock { state in
            if let last = state.turns.indices.last, state.turns[last].contender == contender { state.turns[last].releasing = now }
        }
    }

    var turns: [Turn] { state.withLock { $0.turns } }

    /// The time from each release to the next holder running.
    var handoffs: [Duration] {
        let turns = self.turns
        return zip(turns, turns.dropFirst()).compactMap { previous, next in previous.releasing.map { next.acquired - $0 } }
    }
}

/// The steps one contender's queue went through, in order, with their instants.
private final class StepTrace: LockObserver {
    private let steps = Mutex<[(step: LockTraceStep, at: ContinuousClock.Instant)]>([])

    var tracesRequests: Bool { true }

    func traced(_ step: LockTraceStep, name: String) {
        let now = ContinuousClock.now
        steps.withLock { $0.append((step, now)) }
    }

    var timeline: [(step: LockTraceStep, at: ContinuousClock.Instant)] { steps.withLock { $0 } }
}

/// Where the time of each handoff went, from the holder's `unlock()` call: its release handed to
/// the client and answered, the next holder's watch event, its check handed to the client and
/// answered, and its `lock()` returning (medians and p99 over the handoffs); and etcd requests per cycle by kind.
private struct HandoffBreakdown {
    var offsets: [String: [Duration]] = [:]
    /// Handoffs whose next holder found the lock free at a look, with no event since the release.
    var withoutEvent = 0
    var handoffs = 0
    var requestsByKind: [String: Double] = [:]

    static let segments = ["release_sent", "release_answered", "event_received", "check_sent", "check_answered", "returned"]

    init(turns: [HandoffRecorder.Turn], traces: [StepTrace], requestsSpent: Int) {
        let timelines = traces.map(\.timeline)
        for (previous, next) in zip(turns, turns.dropFirst()) {
            guard let start = previous.releasing else { continue }
            handoffs += 1
            let released = timelines[previous.contender].filter { $0.at >= start }
            let waited = timelines[next.contender].filter { $0.at >= start && $0.at <= next.acquired }
            func first(_ step: LockTraceStep, in steps: [(step: LockTraceStep, at: ContinuousClock.Instant)]) -> Duration? {
                steps.first { $0.step == step }.map { $0.at - start }
            }
            func last(_ step: LockTraceStep) -> Duration? { waited.last { $0.step == step }.map { $0.at - start } }
            let found: [String: Duration?] = [
                "release_sent": first(.releaseSent, in: released), "release_answered": first(.releaseAnswered, in: released),
                "event_received": last(.eventReceived), "check_sent": last(.lookSent), "check_answered": last(.lookAnswered),
                "returned": next.acquired - start,
            ]
            if last(.eventReceived) == nil { withoutEvent += 1 }
            for (segment, offset) in found { if let offset { offsets[segment, default: []].append(offset) } }
        }
        let cycles = Double(max(1, turns.count))
        let kinds: [(String, LockTraceStep)] = [("enqueue", .enqueueSent), ("look", .lookSent), ("watch", .watchSent), ("release", .releaseSent)]
        var traced = 0
        for (kind, step) in kinds {
            let count = timelines.reduce(0) { $0 + $1.filter { $0.step == step }.count }
            traced += count
            requestsByKind[kind] = Double(count) / cycles
        }
        requestsByKind["other"] = Double(requestsSpent - traced) / cycles
    }

    var json: String {
        func milliseconds(_ duration: Duration) -> Double { BenchCommand.seconds(duration) * 1000 }
        var fields = [#""client":"EtcdClient""#, #""op":"handoff_breakdown""#, "\"handoffs\":\(handoffs)", "\"without_event\":\(withoutEvent)"]
        for segment in Self.segments {
            let sorted = (offsets[segment] ?? []).sorted()
            guard !sorted.isEmpty else { continue }
            fields.append(String(format: "\"%@_p50_ms\":%.3f", segment, milliseconds(sorted[sorted.count / 2])))
            fields.append(String(format: "\"%@_p99_ms\":%.3f", segment, milliseconds(sorted[min(sorted.count - 1, sorted.count * 99 / 100)])))
        }
        for (kind, count) in requestsByKind.sorted(by: { $0.key < $1.key }) {
            fields.append(String(format: "\"requests_%@\":%.2f", kind, count))
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}
