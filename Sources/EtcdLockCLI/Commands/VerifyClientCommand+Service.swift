import Etcd
import EtcdLock
import Foundation
import LockVerification
import Synchronization

/// The turns of a verification client that takes its locks through `etcdlock serve`
/// (`verify-client --service URLS`), as a client in another language would: acquire with a
/// long-poll, renew every TTL/3 while holding, release; its fenced writes still go to etcd, with
/// the token and lease the service answered.
///
/// Each attempt sends an owner text that names it (``LockAttempt/ownerTag``): the service stores
/// it as the waiter's key's value, so the checker can tell whose a key is before the client
/// learns its lease. A replica that fails a call (killed, paused, refusing) is left for another.
extension VerifyClientCommand {
    /// The replicas, and how a locker talks to them.
    struct ServiceReplicas: Sendable {
        /// A client whose endpoints are the replicas, for ``EtcdClient/plainPost(_:body:authorization:endpoint:timeout:)``.
        let client: EtcdClient
        let count: Int

        /// One POST of `fields` as JSON to `path` on `replica`: the status and the decoded object.
        func post(_ path: String, _ fields: [String: Any], replica: Int, timeout: Duration) async throws(EtcdError) -> (
            status: Int, json: [String: Any]
        ) {
            let body = (try? JSONSerialization.data(withJSONObject: fields)).map { Array($0) } ?? []
            let answer = try await client.plainPost(path, body: body, endpoint: replica % count, timeout: timeout)
            let json = (try? JSONSerialization.jsonObject(with: Data(answer.body))) as? [String: Any] ?? [:]
            return (answer.status, json)
        }
    }

    /// The service's answer to an acquire, as a handle the client renews, fences with and releases.
    private func handle(from json: [String: Any], name: String) -> LockHandle? {
        guard let token = (json["token"] as? NSNumber)?.int64Value, let lease = (json["lease"] as? NSNumber)?.int64Value
        else { return nil }
        return try? LockHandle(name: name, lease: LeaseID(lease), token: FencingToken(rawValue: token))
    }

    /// One turn through the service, the `sequence`th of this locker on this lock: acquire
    /// `lockNames[index]` (waiting up to the lock timeout),
    /// increment its register with a fenced write while a task renews the lease, release.
    func serviceTurn(
        lock index: Int, locker: Int, sequence: Int, replicas: ServiceReplicas, client: EtcdClient, operations: OperationNumbers
    ) async throws {
        let name = lockNames[index]
        let steps = Steps(command: self, lock: index, locker: locker)
        let owner = LockAttempt.ownerTag(of: process, locker: locker, lock: index, sequence: sequence)
        steps(.lockStart)
        var first = Int.random(in: 0..<replicas.count)
        let acquired: (status: Int, json: [String: Any])
        let deadline = ContinuousClock.now + lockTimeout
        var refusals = 0
        while true {
            let wait = deadline - ContinuousClock.now
            let fields: [String: Any] = [
                "ttl_seconds": ttl.components.seconds, "wait_seconds": max(0, Double(wait.components.seconds) + Double(wait.components.attoseconds) / 1e18),
                "owner": owner,
            ]
            do {
                // The long-poll's own deadline, plus room for the replica's withdrawal at its end.
                acquired = try await replicas.post("/v1/locks/\(name):acquire", fields, replica: first, timeout: wait + .seconds(3))
                break
            } catch where error.code == .unavailable && wait > .seconds(1) {
                // Refused or cut off (the replica died): the next replica, as a load balancer
                // would. A waiter key the dead one left behind goes with its lease.
                first += 1
                refusals += 1
                if refusals % replicas.count == 0 { try? await Task.sleep(for: .milliseconds(200)) }
            } catch {
                steps(.lockFailed(code: "\(error.code)"))
                return
            }
        }
        guard acquired.status == 200, let handle = handle(from: acquired.json, name: name) else {
            let code = (acquired.json["error"] as? [String: Any])?["code"] as? String ?? "http_\(acquired.status)"
            steps(.lockFailed(code: code))
            return
        }
        steps(.acquired(token: handle.token.rawValue))
        let renewedAt = RenewalClock()
        let replica = first
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { await keepRenewing(handle, replicas: replicas, from: replica, renewedAt: renewedAt) }
                // The work goes on even when a renewal finds the lock lost (a paused client's
                // write is sent when it resumes): fencing is what must reject it. The renewals
                // end with the work.
                defer { group.cancelAll() }
                try await increment(
                    registers[index], token: handle.token, fence: { txn in _ = try await handle.fenced(txn, client: client) },
                    client: client, operation: operations.next(), steps)
            }
        } catch {
            guard typedCode(error) != nil || error is CancellationError else { throw error }
            if !(error is CancellationError) { emitFailure(error, lock: index, locker: locker) }
        }
        await releaseUntilDone(handle, replicas: replicas, from: replica, renewedAt: renewedAt, steps)
    }

    /// When the lease was last renewed (or acquired): after a TTL without a renewal it is gone.
    final class RenewalClock: Sendable {
        private let last = Mutex(ContinuousClock.now)
        func renewed() { last.withLock { $0 = .now } }
        var since: Duration { ContinuousClock.now - last.withLock { $0 } }
    }

    /// Renews `handle` every TTL/3 until cancelled or the lock is lost (410), moving to another
    /// replica after a failed call.
    private func keepRenewing(_ handle: LockHandle, replicas: ServiceReplicas, from first: Int, renewedAt: RenewalClock) async {
        var replica = first
        let body: [String: Any] = ["token": handle.token.rawValue, "lease": handle.lease.rawValue]
        while !Task.isCancelled {
            try? await Task.sleep(for: ttl / 3)
            guard !Task.isCancelled else { return }
            do {
                let answer = try await replicas.post("/v1/locks/\(handle.name):renew", body, replica: replica, timeout: ttl / 3)
                if answer.status == 200 { renewedAt.renewed() }
                if answer.status == 410 { return }
                if answer.status >= 500 { replica += 1 }
            } catch {
                replica += 1
            }
        }
    }

    /// Releases `handle` through the replicas, insisting (moving from replica to replica) until
    /// one answers or a TTL has passed since the last renewal, after which the lease is gone.
    private func releaseUntilDone(
        _ handle: LockHandle, replicas: ServiceReplicas, from first: Int, renewedAt: RenewalClock, _ emit: Steps
    ) async {
        let token = handle.token.rawValue
        let body: [String: Any] = ["token": token, "lease": handle.lease.rawValue]
        var replica = first
        var lastFailure = "timeout"
        while renewedAt.since < ttl {
            do {
                let answer = try await replicas.post("/v1/locks/\(handle.name):release", body, replica: replica, timeout: .seconds(2))
                switch answer.status {
                case 200: return emit(.released(token: token))
                case 410: return emit(.releaseFailed(token: token, code: "lost"))
                default: lastFailure = (answer.json["error"] as? [String: Any])?["code"] as? String ?? "http_\(answer.status)"
                }
            } catch {
                lastFailure = "\(error.code)"
            }
            replica += 1
            try? await Task.sleep(for: .milliseconds(100))
        }
        emit(.releaseFailed(token: token, code: lastFailure))
    }
}
