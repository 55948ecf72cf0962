import Foundation
import LockVerification
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The verifier's client processes: starts and restarts them, pauses and kills them for the
/// nemesis, collects their histories, and notices crashes and hangs.
actor ClientFleet {
    private struct Slot {
        var process: ChildProcess?
        var incarnation = -1
        var paused = false
        /// Set by the nemesis before it kills the process: restart after this long.
        var restartAfter: Duration?
        /// When the current process started or was resumed (silence before it does not count).
        var since = ContinuousClock.now
        var flaggedSilent = false
        /// When the nemesis sent SIGKILL to the current process (it renews nothing after that).
        var killedAt: UInt64?
    }

    /// What a supervisor does after its process exited.
    enum AfterExit: Sendable {
        case restart(after: Duration)
        case finished
    }

    private let launch: @Sendable (_ client: Int, _ incarnation: Int, _ fleet: ClientFleet) throws -> ChildProcess
    private let hangLimit: Duration
    private var slots: [Slot]
    /// Every client's history, recorded as the lines arrive.
    nonisolated let log = HistoryLog()
    private(set) var unexpectedExits: [String] = []
    /// When each client slot was paused (monotonic nanoseconds), for the deadline checks.
    private(set) var pauses: [Int: [ClosedRange<UInt64>]] = [:]
    private var pausedSince: [Int: UInt64] = [:]
    private(set) var hangs: [String] = []
    private(set) var isStopping = false
    /// When each client process was killed by the nemesis, or else seen to exit (monotonic
    /// nanoseconds): after its last keepalive, so its lease runs out at most a TTL later.
    private(set) var exits: [ClientProcess: UInt64] = [:]

    /// - Parameters:
    ///   - clients: how many client slots.
    ///   - hangLimit: how long a running client may stay silent before it counts as hung
    ///     (longer than any one step's deadline).
    ///   - launch: starts one client process, sending its lines to ``log``.
    init(
        clients: Int, hangLimit: Duration,
        launch: @escaping @Sendable (_ client: Int, _ incarnation: Int, _ fleet: ClientFleet) throws -> ChildProcess
    ) {
        self.launch = launch
        self.hangLimit = hangLimit
        slots = Array(repeating: Slot(), count: clients)
    }

    /// Keeps client `index` running until the fleet stops: starts it, waits for it to exit,
    /// judges the exit, restarts it.
    nonisolated func supervise(_ index: Int) async {
        while true {
            let started: ChildProcess?
            do {
                started = try await start(index)
            } catch {
                await recordUnexpected("client \(index) could not be started: \(error)")
                return
            }
            guard let process = started else { return }
            let status = await process.wait() ?? -1
            switch await exited(index, status: status) {
            case .finished: return
            case .restart(let delay): try? await Task.sleep(for: delay)
            }
        }
    }

    /// Starts the next incarnation of client `index`; `nil` once the fleet is stopping.
    private func start(_ index: Int) throws -> ChildProcess? {
        guard !isStopping else { return nil }
        slots[index].incarnation += 1
        let process = try launch(index, slots[index].incarnation, self)
        slots[index].process = process
        slots[index].paused = false
        slots[index].restartAfter = nil
        slots[index].since = .now
        slots[index].flaggedSilent = false
        log.forgetHold(of: index)
        return process
    }

    private func exited(_ index: Int, status: Int32) -> AfterExit {
        let name = "client \(index).\(slots[index].incarnation)"
        exits[ClientProcess(client: index, incarnation: slots[index].incarnation)] = slots[index].killedAt ?? MonotonicTime.now()
        slots[index].killedAt = nil
        slots[index].process = nil
        if isStopping {
            // A process started just before the stop may get SIGTERM before it has set up its
            // handling of it: ended by the signal before printing a line, it did nothing at all.
            let endedBeforeStarting = status == 128 + SIGTERM && !log.hasHeard(client: index, incarnation: slots[index].incarnation)
            if status != 0, !slots[index].flaggedSilent, !endedBeforeStarting {
                unexpectedExits.append("\(name) exited with status \(status) when told to stop")
            }
            return .finished
        }
        if let delay = slots[index].restartAfter { return .restart(after: delay) }
        unexpectedExits.append("\(name) exited with status \(status) while nobody stopped it")
        return .restart(after: .milliseconds(500))
    }

    private func recordUnexpected(_ line: String) { unexpectedExits.append(line) }

    /// SIGSTOPs client `index`; `false` if it is not running (being restarted).
    func pause(_ index: Int) -> Bool {
        guard !isStopping, let process = slots[index].process, !slots[index].paused else { return false }
        slots[index].paused = true
        pausedSince[index] = MonotonicTime.now()
        process.send(SIGSTOP)
        return true
    }

    private func notePauseEnded(_ index: Int) {
        guard let start = pausedSince.removeValue(forKey: index) else { return }
        pauses[index, default: []].append(start...MonotonicTime.now())
    }

    /// SIGCONTs client `index` after ``pause(_:)``.
    func resume(_ index: Int) {
        guard slots[index].paused else { return }
        slots[index].paused = false
        slots[index].since = .now
        slots[index].process?.send(SIGCONT)
        notePauseEnded(index)
    }

    /// SIGKILLs client `index`, to be restarted after `restartAfter`; `false` if it is not running.
    func kill(_ index: Int, restartAfter: Duration) -> Bool {
        guard !isStopping, let process = slots[index].process, !slots[index].paused, slots[index].restartAfter == nil
        else { return false }
        slots[index].restartAfter = restartAfter
        slots[index].killedAt = MonotonicTime.now()
        process.send(SIGKILL)
        return true
    }

    /// Flags (and replaces) running clients silent for longer than the hang limit.
    func checkForHangs() {
        for index in slots.indices {
            let slot = slots[index]
            guard !isStopping, let process = slot.process, !slot.paused, slot.restartAfter == nil, !slot.flaggedSilent,
                ContinuousClock.now - max(slot.since, log.lastHeard(client: index, incarnation: slot.incarnation)) > hangLimit
            else { continue }
            hangs.append("client \(index).\(slot.incarnation) printed nothing for \(hangLimit) while running (killed)")
            slots[index].flaggedSilent = true
            slots[index].restartAfter = .milliseconds(200)
            process.send(SIGKILL)
        }
    }

    /// Tells every client to stop (SIGTERM, after SIGCONT for paused ones).
    func stopAll() {
        isStopping = true
        for index in slots.indices {
            slots[index].paused = false
            slots[index].process?.send(SIGCONT)
            notePauseEnded(index)
            slots[index].process?.send(SIGTERM)
        }
    }

    /// Whether every client process has exited.
    var allExited: Bool { slots.allSatisfy { $0.process == nil } }

    /// SIGKILLs clients that did not exit when told to stop, recording each as a hang.
    func killStragglers(after grace: Duration) {
        for index in slots.indices {
            guard let process = slots[index].process else { continue }
            hangs.append("client \(index).\(slots[index].incarnation) did not exit within \(grace) of SIGTERM (killed)")
            slots[index].flaggedSilent = true
            process.send(SIGKILL)
        }
    }
}

/// The clients' histories, appended to by the threads that read their output (in the order
/// each client printed), and when each client was last heard from.
final class HistoryLog: Sendable {
    private struct State {
        var events: [HistoryEvent] = []
        var leases: Set<Int64> = []
        var lastHeard: [Int: (incarnation: Int, at: ContinuousClock.Instant)] = [:]
        /// How many locks each client holds (between `acquired` and the end of that hold).
        var holding: [Int: Int] = [:]
        /// Clients between `acquired` and their first write (or fenced read): a pause there is the
        /// case fencing exists for.
        var beforeWrite: [Int: Int] = [:]
        var strayLines = 0
    }

    private let state = Mutex(State())

    /// Adds one line client `client` (process `incarnation`) printed.
    func record(client: Int, incarnation: Int, line: String) {
        let event = HistoryEvent(client: client, incarnation: incarnation, line: line)
        state.withLock { state in
            guard let event else {
                state.strayLines += 1
                return
            }
            state.events.append(event)
            switch event.step {
            case .session(let lease): state.leases.insert(lease)
            case .acquired:
                state.holding[client, default: 0] += 1
                state.beforeWrite[client, default: 0] += 1
            case .writeStart, .readSent: state.beforeWrite[client] = max(0, (state.beforeWrite[client] ?? 0) - 1)
            case .released, .releaseFailed: state.holding[client] = max(0, (state.holding[client] ?? 0) - 1)
            case .stopped:
                state.holding[client] = nil
                state.beforeWrite[client] = nil
            default: break
            }
            state.lastHeard[client] = (incarnation, .now)
        }
    }

    /// Every step so far.
    var events: [HistoryEvent] { state.withLock { $0.events } }
    /// Every lease a client reported.
    var leases: Set<Int64> { state.withLock { $0.leases } }
    /// A client that holds the lock now, as far as its output says.
    var holder: Int? { state.withLock { $0.holding.filter { $0.value > 0 }.keys.min() } }

    /// A client that holds a lock and has not written under it yet, as far as its output says.
    var holderBeforeWrite: Int? { state.withLock { $0.beforeWrite.filter { $0.value > 0 }.keys.min() } }

    /// Forgets that `client` holds locks (its process was replaced).
    func forgetHold(of client: Int) {
        state.withLock { state in
            state.holding[client] = nil
            state.beforeWrite[client] = nil
        }
    }

    /// Lines that were not history lines.
    var strayLines: Int { state.withLock { $0.strayLines } }

    /// Whether process `incarnation` of `client` printed anything.
    func hasHeard(client: Int, incarnation: Int) -> Bool {
        state.withLock { $0.lastHeard[client]?.incarnation == incarnation }
    }

    /// When process `incarnation` of `client` last printed (the distant past if never).
    func lastHeard(client: Int, incarnation: Int) -> ContinuousClock.Instant {
        state.withLock { state in
            guard let heard = state.lastHeard[client], heard.incarnation == incarnation else { return .now - .seconds(86_400) }
            return heard.at
        }
    }
}
