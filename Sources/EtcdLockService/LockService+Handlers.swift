import Etcd
import EtcdLock
import Foundation

extension LockService {
    /// `POST /v1/locks/{name}:acquire` `{"ttl_seconds", "wait_seconds", "owner", "mode", "permits"}`:
    /// a long-poll while `wait_seconds` runs (this replica keeps the waiter's lease alive meanwhile).
    func acquire(_ name: String, _ request: HTTPRequest, caller: AccessTokens.Grant) async throws -> HTTPResponse {
        let body = try AcquireBody(request.body)
        let mode = try LockHandle.Mode.parsing(mode: body.mode, permits: body.permits)
        let ttl = body.ttl_seconds ?? 10
        guard ttl >= 1, ttl <= configuration.maximumTTLSeconds else {
            throw ServiceError(
                status: 400, code: "invalid_argument", message: "ttl_seconds must be from 1 to \(configuration.maximumTTLSeconds)")
        }
        let waitSeconds = body.wait_seconds ?? 0
        let maximumWait = Double(configuration.maximumWait.components.seconds)
        guard waitSeconds.isFinite, waitSeconds >= 0, waitSeconds <= maximumWait else {
            throw ServiceError(status: 400, code: "invalid_argument", message: "wait_seconds must be from 0 to \(Int(maximumWait))")
        }
        let owner = body.owner ?? "http"
        guard owner.utf8.count <= configuration.maximumOwnerBytes,
            !owner.unicodeScalars.contains(where: { $0.properties.generalCategory == .control })
        else {
            throw ServiceError(
                status: 400, code: "invalid_argument",
                message: "owner must be at most \(configuration.maximumOwnerBytes) bytes without control characters")
        }
        let wait: Duration = waitSeconds == 0 ? .zero : .milliseconds(Int64((waitSeconds * 1000).rounded(.up)))
        let isLongPoll = wait > .zero
        if isLongPoll {
            guard metrics.startWaiting(limit: configuration.maximumWaiters) else {
                throw ServiceError(status: 429, code: "too_many_waiters", message: "this replica has too many waiting callers")
            }
        }
        defer { if isLongPoll { metrics.stopWaiting() } }
        let outcome: LockHandle.Acquisition
        do {
            outcome = try await LockHandle.acquire(
                name, namespace: caller.namespace, mode: mode, client: client, ttl: .seconds(ttl), owner: owner, wait: wait,
                observer: metrics.locks)
        } catch let error as LockError where error.code == .cancelled {
            metrics.acquisition("cancelled")
            throw error
        } catch let error as LockError where error.code == .invalidName || error.code == .permitsMismatch {
            if error.code == .permitsMismatch { metrics.acquisition("permits_mismatch") }
            throw error
        } catch {
            // A caller that left (or a replica that stops) cancels the wait: whatever the request in
            // flight then failed with, the acquisition was cancelled.
            metrics.acquisition(Task.isCancelled ? "cancelled" : "error")
            throw error
        }
        switch outcome {
        case .acquired(let handle, let ttlLeft):
            if Task.isCancelled {
                // Nobody is left to renew it (the caller went away, or the replica is stopping).
                _ = try? await handle.release(client: client)
                metrics.acquisition("cancelled")
                throw ServiceError(status: 503, code: "shutting_down", message: "the request was cancelled")
            }
            metrics.acquisition("acquired")
            var response = Self.ok(
                mode.fields.merging([
                    "name": .string(name), "token": .int(handle.token.rawValue), "lease": .int(handle.lease.rawValue),
                    "key": .string(handle.key.description), "ttl_seconds": .int(ttlLeft.components.seconds), "owner": .string(owner),
                ]) { $1 })
            // If the caller is gone before this answer reaches it, nobody holds the handle: release
            // now rather than leave the lock held until its TTL runs out.
            response.onUndelivered = { [client, metrics] in
                metrics.acquisition("undelivered")
                // Best effort: if etcd cannot be reached now, the lease expires within its TTL.
                _ = try? await handle.release(client: client)
            }
            return response
        case .heldByOther(let holder):
            metrics.acquisition("held")
            throw Self.held(name, holder: holder, message: "\(name) is held")
        case .timedOut(let holder):
            metrics.acquisition("timeout")
            throw Self.held(name, holder: holder, message: "\(name) was not acquired within wait_seconds")
        }
    }

    /// `POST /v1/locks/{name}:renew` `{"token", "lease"}`.
    func renew(_ name: String, _ request: HTTPRequest, caller: AccessTokens.Grant) async throws -> HTTPResponse {
        let handle = try Self.handle(name, request, caller: caller)
        let status: LockHandle.Status
        do {
            status = try await handle.renew(client: client)
        } catch {
            metrics.renewal("error")
            throw error
        }
        switch status {
        case .held(let ttl):
            metrics.renewal("held")
            return Self.ok(["ttl_seconds": .int(ttl.components.seconds)])
        case .lost:
            metrics.renewal("lost")
            throw ServiceError(status: 410, code: "lost", message: "\(name) is no longer held with token \(handle.token)")
        }
    }

    /// `POST /v1/locks/{name}:release` `{"token", "lease"}`.
    func release(_ name: String, _ request: HTTPRequest, caller: AccessTokens.Grant) async throws -> HTTPResponse {
        let handle = try Self.handle(name, request, caller: caller)
        let release: LockHandle.Release
        do {
            release = try await handle.releaseReportingHold(client: client)
        } catch {
            metrics.release("error")
            throw error
        }
        guard release.released else {
            metrics.release("lost")
            throw ServiceError(status: 410, code: "lost", message: "\(name) is not held with token \(handle.token)")
        }
        metrics.release("released")
        if let held = release.heldFor { metrics.locks.released(name: name, token: handle.token, held: held) }
        return Self.ok(["name": .string(name), "token": .int(handle.token.rawValue), "released": .bool(true)])
    }

    /// `GET /v1/locks/{name}[?kind=lock|rwlock|semaphore]`: the mutex, or the read/write lock or
    /// semaphore of that name.
    func inspect(_ name: String, _ request: HTTPRequest, caller: AccessTokens.Grant) async throws -> HTTPResponse {
        let kind = try Self.kind(Self.query(request, allowed: ["kind"])["kind"])
        if kind != .lock {
            let (queue, revision) = try await LockAdmin.queue(name, namespace: caller.namespace, kind: kind, client: client)
            return Self.ok([
                "name": .string(name), "kind": .string(kind.rawValue), "mode": queue.holders.first.map { .string($0.mode.rawValue) } ?? .null,
                "holders": .array(queue.holders.map { Self.entry($0, holds: true) }), "waiters": .array(queue.waiters.map { Self.entry($0, holds: false) }),
                "permits": queue.permits.map { .int(Int64($0)) } ?? .null, "revision": .int(revision.rawValue),
            ])
        }
        let state = try await LockAdmin.inspect(name, namespace: caller.namespace, client: client)
        return Self.ok([
            "name": .string(name), "holder": state.holder.map { Self.entry($0, holds: true) } ?? .null,
            "waiters": .array(state.waiters.map { Self.entry($0, holds: false) }),
            "revision": .int(state.revision.rawValue),
        ])
    }

    /// `GET /v1/locks?prefix=P[&kind=lock|rwlock|semaphore]`.
    func list(_ request: HTTPRequest, caller: AccessTokens.Grant) async throws -> HTTPResponse {
        let query = try Self.query(request, allowed: ["prefix", "kind"])
        let kind = try Self.kind(query["kind"])
        let locks = try await LockAdmin.list(namespace: caller.namespace, namePrefix: query["prefix"] ?? "", kind: kind, client: client)
        return Self.ok([
            "kind": .string(kind.rawValue),
            "locks": .array(
                locks.map { lock in
                    .object([
                        "name": .string(lock.name), "holder": Self.entry(lock.holder, holds: true),
                        "holders": .int(Int64(lock.holders.count)), "waiting": .int(Int64(lock.waiting)),
                    ])
                }),
        ])
    }

    /// The kind a `kind` parameter names (`lock` when absent); 400 for any other.
    private static func kind(_ text: String?) throws(ServiceError) -> LockQueueState.Kind {
        guard let kind = LockQueueState.Kind(rawValue: text ?? "lock") else {
            throw ServiceError(status: 400, code: "invalid_argument", message: "kind must be lock, rwlock or semaphore")
        }
        return kind
    }

    /// `POST /v1/locks/{name}:force-release` `{"token", "kind"}` (both optional; admins only).
    func forceRelease(_ name: String, _ request: HTTPRequest, caller: AccessTokens.Grant) async throws -> HTTPResponse {
        let body = try ForceReleaseBody(request.body)
        let kind = try Self.kind(body.kind)
        let outcome = try await LockAdmin.forceRelease(
            name, namespace: caller.namespace, kind: kind, token: body.token.map(FencingToken.init(rawValue:)), client: client)
        switch outcome {
        case .released(let entry, let revision):
            metrics.forceReleased()
            return Self.ok(["name": .string(name), "released": Self.entry(entry, holds: true), "revision": .int(revision.rawValue)])
        case .free:
            return Self.ok(["name": .string(name), "released": .null])
        case .severalHolders(let holders):
            throw ServiceError(
                status: 409, code: "token_required", message: "\(name) has \(holders.count) holders; say which with its token",
                extra: ["holders": .array(holders.map { Self.entry($0, holds: true) })])
        case .notHolder(let current):
            throw ServiceError(
                status: 409, code: "not_holder", message: "\(name) is held under another token; nothing was removed",
                extra: ["holder": Self.entry(current, holds: true)])
        }
    }

    // MARK: Shapes

    /// The query's parameters, decoded; 400 for any outside `allowed` or badly encoded.
    private static func query(_ request: HTTPRequest, allowed: Set<String>) throws(ServiceError) -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in request.query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard allowed.contains(String(parts[0])), let value = percentDecoded(parts.count > 1 ? parts[1] : "", plusIsSpace: true) else {
                throw ServiceError(
                    status: 400, code: "bad_request", message: "the query parameters here are \(allowed.sorted().joined(separator: ", "))")
            }
            guard parameters.updateValue(value, forKey: String(parts[0])) == nil else {
                throw ServiceError(status: 400, code: "invalid_argument", message: "query parameter \(parts[0]) appears more than once")
            }
        }
        return parameters
    }

    private static func handle(_ name: String, _ request: HTTPRequest, caller: AccessTokens.Grant) throws -> LockHandle {
        let body = try HandleBody(request.body)
        guard body.token > 0, body.lease != 0 else {
            throw ServiceError(status: 400, code: "invalid_argument", message: "token must be positive and lease non-zero")
        }
        let mode = try LockHandle.Mode.parsing(mode: body.mode, permits: body.permits)
        return try LockHandle(
            name: name, namespace: caller.namespace, mode: mode, lease: LeaseID(body.lease), token: FencingToken(rawValue: body.token))
    }

    private static func ok(_ fields: [String: JSONOutput]) -> HTTPResponse {
        HTTPResponse(status: 200, body: JSONOutput.object(fields).bytes)
    }

    private static func held(_ name: String, holder: LockHolder?, message: String) -> ServiceError {
        let holderJSON: JSONOutput =
            holder.map {
                .object([
                    // Never the lease, nor the key (whose name ends with the lease): with the token, the
                    // lease is what proves holding the lock.
                    "owner": .string($0.owner), "token": .int($0.token.rawValue),
                ])
            } ?? .null
        return ServiceError(status: 409, code: "held", message: message, extra: ["holder": holderJSON])
    }

    /// A read/write lock's or a semaphore's entry: as a mutex's, with its hold's mode (and a
    /// permit's count).
    private static func entry(_ entry: LockQueueState.Entry, holds: Bool) -> JSONOutput {
        var fields = entryFields(
            owner: entry.owner, token: entry.keyValue.createRevision, leaseTTL: entry.ttl, queuedAt: entry.queuedAt,
            admittedAt: entry.admittedAt, holds: holds)
        fields["mode"] = .string(entry.mode.rawValue)
        if entry.mode == .permit { fields["permits"] = entry.permits.map { .int(Int64($0)) } ?? .null }
        return .object(fields)
    }

    /// A mutex's entry (inspections), or any kind's holder (lists, force-release answers: without
    /// the lease's TTL, which they do not read; with the mode and permits of the other kinds).
    private static func entry(_ entry: LockAdmin.Entry, holds: Bool) -> JSONOutput {
        var fields = entryFields(
            owner: entry.owner, token: entry.token.revision, leaseTTL: entry.leaseTTL.map { $0.components.seconds },
            queuedAt: entry.queuedAt, admittedAt: entry.admittedAt, holds: holds)
        if entry.leaseTTL == nil { fields["lease_ttl_seconds"] = nil }
        if entry.mode != .exclusive { fields["mode"] = .string(entry.mode.rawValue) }
        if entry.mode == .permit { fields["permits"] = entry.permits.map { .int(Int64($0)) } ?? .null }
        return .object(fields)
    }

    /// An entry's fields. Never the lease, nor the key (whose name ends with the lease): with the
    /// token, the lease is what proves holding the lock. Ages come from the times the key records
    /// (`null` when it records none): a holder's `held_for_seconds` since its admission and
    /// `queued_for_seconds` since it joined the queue (at least as long), a waiter's
    /// `waiting_for_seconds`.
    private static func entryFields(
        owner: String, token: Revision, leaseTTL: Int64?, queuedAt: Date?, admittedAt: Date?, holds: Bool
    ) -> [String: JSONOutput] {
        let now = Date()
        let age = { (date: Date?) -> JSONOutput in QueueEntryRecord.age(of: date, now: now).map { .seconds($0) } ?? .null }
        var fields: [String: JSONOutput] = [
            "owner": .string(owner), "token": .int(token.rawValue), "lease_ttl_seconds": leaseTTL.map { .int($0) } ?? .null,
        ]
        if holds {
            fields["held_for_seconds"] = age(admittedAt)
            fields["queued_for_seconds"] = age(queuedAt)
        } else {
            fields["waiting_for_seconds"] = age(queuedAt)
        }
        return fields
    }
}
