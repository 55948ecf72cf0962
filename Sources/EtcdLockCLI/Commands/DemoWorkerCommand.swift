import Etcd
import EtcdLock
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `etcdlock demo-worker`: one worker process of `etcdlock demo` (not listed in the help).
///
/// Loops: lock, "work", write the external resource through a ``FencingGate``, increment the
/// etcd counter with a fenced transaction, unlock. It uses plain `lock()`/`unlock()` on purpose:
/// a holder frozen mid-work still attempts its writes when it resumes, which is what fencing must
/// reject. Reports each step on stdout, one line each, for the coordinator.
struct DemoWorkerCommand: Command {
    static let name = "demo-worker"
    static let abstract = "one worker of etcdlock demo"
    static let usage = "Usage: etcdlock demo-worker --endpoints URLS --lock NAME --counter KEY --resource FILE --increments N [--ttl S] [--work-ms MS]"

    let connection: ConnectionOptions
    let lockName: String
    let counter: EtcdKey
    let resource: String
    let increments: Int
    let ttl: Duration
    let work: Duration

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        lockName = try arguments.option("--lock") ?? "demo-counter"
        counter = EtcdKey(try arguments.option("--counter") ?? "/etcdlock-demo/counter")
        guard let resource = try arguments.option("--resource") else { throw UsageError(description: "--resource is required") }
        self.resource = resource
        guard let increments = Int(try arguments.option("--increments") ?? "10"), increments > 0 else {
            throw UsageError(description: "--increments must be positive")
        }
        self.increments = increments
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "2", option: "--ttl")
        work = .milliseconds(Int(try arguments.option("--work-ms") ?? "30") ?? 30)
    }

    func run() async throws -> ExitStatus {
        var acknowledged = 0
        try await EtcdClient.withClient(connection.configuration) { client in
            while acknowledged < increments {
                // A lost session (after a freeze) is replaced by a new one: a new life, new tokens.
                try await EtcdSession.withSession(client, ttl: ttl) { session in
                    let mutex = try EtcdMutex(lockName, session: session)
                    while acknowledged < increments, session.isValid {
                        let lock: LockGuard
                        do {
                            lock = try await mutex.lock(timeout: .seconds(30))
                        } catch let error as LockError where error.code == .sessionLost {
                            return
                        } catch let error as LockError where error.code == .timeout || error.code == .ownershipLost {
                            Console.out("error - \(error.code) applied=false")
                            continue
                        } catch let error as EtcdError {
                            // etcd unreachable for a moment (a member was just killed): try again.
                            Console.out("error - \(error.code) applied=false")
                            try await Task.sleep(for: .milliseconds(200))
                            continue
                        }
                        Console.out("holding \(lock.token)")
                        try await Task.sleep(for: work)  // the work a pause can interrupt
                        // Written even if this holder's session has meanwhile been lost: a holder that
                        // never noticed its pause would, and fencing is what must stop it.
                        if try writeResource(token: lock.token) {
                            Console.out("resource-accepted \(lock.token)")
                        } else {
                            Console.out("resource-rejected \(lock.token)")
                        }
                        if try await increment(counter, under: lock, of: mutex, client: client) { acknowledged += 1 }
                        _ = await mutex.unlockUntilDone(lock)
                    }
                }
            }
        }
        Console.out("done \(acknowledged)")
        return .success
    }

    /// Adds one to the counter, fenced by `lock`; whether the increment was acknowledged.
    ///
    /// The write puts an absolute value read under the lock, so sending it again while etcd elects
    /// a leader (a member was just killed) changes nothing if it had landed, and fencing refuses it
    /// if the lock was lost meanwhile: a frozen holder that wakes up during the election still
    /// learns that etcd rejects it. What stays unknown is reported so, for the verdict.
    private func increment(_ counter: EtcdKey, under lock: LockGuard, of mutex: EtcdMutex, client: EtcdClient) async throws -> Bool {
        var mayHaveLanded = false
        let giveUp = ContinuousClock.now + .seconds(5)
        while true {
            do {
                let current = try await client.range(RangeRequest(.key(counter)))
                let value = Int(current.keyValues.first?.valueString ?? "0") ?? 0
                try await mutex.fenced(lock, Txn(then: [.put(counter, value: "\(value + 1)".utf8)]))
                Console.out("ack \(lock.token)")
                return true
            } catch let error as LockError where error.code == .ownershipLost {
                if mayHaveLanded { Console.out("error \(lock.token) unknown applied=true") }
                Console.out("etcd-rejected \(lock.token)")
                return false
            } catch let error as EtcdError where [.unavailable, .noLeader, .timeout].contains(error.code) && ContinuousClock.now < giveUp {
                mayHaveLanded = mayHaveLanded || error.mayHaveBeenApplied
                try await Task.sleep(for: .milliseconds(200))
            } catch let error as EtcdError {
                // The outcome of this increment is unknown; the verdict compares etcd with acks.
                Console.out("error \(lock.token) \(error.code) applied=\(mayHaveLanded || error.mayHaveBeenApplied)")
                return false
            }
        }
    }

    /// Writes the external resource if the gate, restored from the file, admits `token`.
    ///
    /// The file holds "newest-token accepted-count"; `flock` makes check-and-write atomic
    /// between processes, as a real resource's own transaction would.
    private func writeResource(token: FencingToken) throws -> Bool {
        let descriptor = open(resource, O_RDWR)
        guard descriptor >= 0 else { throw EtcdError(code: .invalidArgument, message: "cannot open \(resource)") }
        defer { close(descriptor) }
        guard flock(descriptor, LOCK_EX) == 0 else { throw EtcdError(code: .invalidArgument, message: "cannot lock \(resource)") }
        defer { _ = flock(descriptor, LOCK_UN) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = read(descriptor, &buffer, buffer.count)
        let fields = String(decoding: buffer[0..<max(0, count)], as: UTF8.self).split(separator: " ")
        let newest = fields.first.flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let accepted = fields.dropFirst().first.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
        let gate = FencingGate(newest: newest == 0 ? nil : FencingToken(rawValue: newest))
        guard gate.admit(token) else { return false }
        let updated = Array("\(token.rawValue) \(accepted + 1)\n".utf8)
        _ = ftruncate(descriptor, 0)
        _ = pwrite(descriptor, updated, updated.count, 0)
        return true
    }
}
