import Etcd
import EtcdLock

/// The HTTP lock API over stateless ``LockHandle``s: any replica can renew, release or inspect a
/// lock acquired through another, because all state lives in etcd.
///
/// Routes (JSON in and out; int64 values — tokens, leases, revisions, TTLs — are JSON numbers):
/// `POST /v1/locks/{name}:acquire|:renew|:release|:force-release`, `GET /v1/locks/{name}`,
/// `GET /v1/locks?prefix=P`, `GET /healthz`, `GET /metrics`. The README documents each.
///
/// One ``EtcdClient`` serves every caller, so concurrent callers' acquires and releases are
/// coalesced into shared transactions, as the library's lockers are.
public final class LockService: Sendable {
    /// Namespaces, roles and bounds.
    public struct Configuration: Sendable {
        /// Bearer tokens; `nil`: no authentication, every caller is an admin of ``defaultNamespace``.
        public var tokens: AccessTokens?
        /// The namespace of callers when there are no tokens.
        public var defaultNamespace = "default"
        /// The longest `wait_seconds` accepted.
        public var maximumWait: Duration = .seconds(300)
        /// The largest `ttl_seconds` accepted.
        public var maximumTTLSeconds: Int64 = 3600
        /// Long-polls waiting at once on this replica, at most (429 beyond).
        public var maximumWaiters = 256
        /// The longest `owner` text, in bytes.
        public var maximumOwnerBytes = 256

        /// The defaults, with `tokens`.
        public init(tokens: AccessTokens? = nil) { self.tokens = tokens }
    }

    let client: EtcdClient
    let configuration: Configuration
    let metrics = ServiceMetrics()

    /// A service answering through `client`.
    public init(client: EtcdClient, configuration: Configuration = Configuration()) {
        self.client = client
        self.configuration = configuration
    }

    /// Answers one request. Cancelled when the caller disconnects or the server shuts down:
    /// a waiting `:acquire` then withdraws its key and revokes its lease before answering 503.
    @Sendable public func handle(_ request: HTTPRequest) async -> HTTPResponse {
        let route = Route(request)
        let response: HTTPResponse
        do {
            response = try await answer(request, route: route)
        } catch let error as ServiceError {
            response = error.response
        } catch {
            metrics.failed(error)
            response = Self.mapped(error).response
        }
        metrics.request(route: route.label, status: response.status)
        return response
    }

    /// Where a request goes.
    enum Route {
        case healthz, metrics, list, inspect(String), action(String, Action), notFound, badName

        enum Action: String { case acquire, renew, release, forceRelease = "force-release" }

        init(_ request: HTTPRequest) {
            switch request.path {
            case "/healthz": self = .healthz
            case "/metrics": self = .metrics
            case "/v1/locks", "/v1/locks/": self = .list
            default:
                guard request.path.hasPrefix("/v1/locks/") else {
                    self = .notFound
                    return
                }
                let rest = request.path.dropFirst("/v1/locks/".count)
                // One path segment: a name holding "/" is sent as %2F.
                guard !rest.contains("/") else {
                    self = .notFound
                    return
                }
                var rawName = rest
                var action: Action?
                if let colon = rest.lastIndex(of: ":") {
                    guard let named = Action(rawValue: String(rest[rest.index(after: colon)...])) else {
                        self = .notFound
                        return
                    }
                    action = named
                    rawName = rest[..<colon]
                }
                guard let name = percentDecoded(rawName) else {
                    self = .badName
                    return
                }
                self = action.map { .action(name, $0) } ?? .inspect(name)
            }
        }

        /// A bounded label for metrics.
        var label: String {
            switch self {
            case .healthz: "healthz"
            case .metrics: "metrics"
            case .list: "list"
            case .inspect: "inspect"
            case .action(_, let action): action.rawValue
            case .notFound, .badName: "other"
            }
        }

        var method: String {
            switch self {
            case .action: "POST"
            default: "GET"
            }
        }
    }

    private func answer(_ request: HTTPRequest, route: Route) async throws -> HTTPResponse {
        if case .notFound = route { throw ServiceError(status: 404, code: "not_found", message: "no such route") }
        if case .badName = route {
            throw ServiceError(status: 400, code: "invalid_name", message: "the lock name is not valid percent-encoded UTF-8")
        }
        guard request.method == route.method else {
            throw ServiceError(
                status: 405, code: "method_not_allowed", message: "use \(route.method) here", headers: [("Allow", route.method)])
        }
        switch route {
        case .healthz: return await health()
        case .metrics: return HTTPResponse(status: 200, contentType: "text/plain; version=0.0.4", body: Array(metrics.prometheusText(etcdRequests: client.requestsSent).utf8))
        case .notFound: throw ServiceError(status: 404, code: "not_found", message: "no such route")
        case .badName: throw ServiceError(status: 400, code: "invalid_name", message: "the lock name is not valid percent-encoded UTF-8")
        case .list:
            let caller = try authorize(request)
            return try await list(request, caller: caller)
        case .inspect(let name):
            let caller = try authorize(request)
            return try await inspect(name, request, caller: caller)
        case .action(let name, let action):
            let caller = try authorize(request)
            switch action {
            case .acquire: return try await acquire(name, request, caller: caller)
            case .renew: return try await renew(name, request, caller: caller)
            case .release: return try await release(name, request, caller: caller)
            case .forceRelease:
                guard caller.role == .admin else {
                    throw ServiceError(status: 403, code: "forbidden", message: "force-release needs an admin token")
                }
                return try await forceRelease(name, request, caller: caller)
            }
        }
    }

    /// The caller's namespace and role.
    private func authorize(_ request: HTTPRequest) throws(ServiceError) -> AccessTokens.Grant {
        guard let tokens = configuration.tokens else {
            return AccessTokens.Grant(namespace: configuration.defaultNamespace, role: .admin)
        }
        return try tokens.grant(for: request.header("authorization"))
    }

    private func health() async -> HTTPResponse {
        do {
            // A linearizable read needs a leader and a quorum, through this replica's client.
            _ = try await client.range(RangeRequest(.key("/etcdlock/.health"), countOnly: true), timeout: .seconds(2))
            return HTTPResponse(status: 200, body: JSONOutput.object(["status": .string("ok")]).bytes)
        } catch let error as EtcdError where error.code == .permissionDenied {
            // etcd checks permissions after the linearizable read's quorum round: it answered.
            return HTTPResponse(status: 200, body: JSONOutput.object(["status": .string("ok")]).bytes)
        } catch {
            return ServiceError(status: 503, code: "etcd_unavailable", message: "etcd does not answer: \(error)").response
        }
    }

    /// The one place library errors become HTTP answers.
    static func mapped(_ error: any Error) -> ServiceError {
        if let denied = (error as? EtcdError) ?? (error as? LockError)?.underlying, denied.code == .permissionDenied {
            // This replica's etcd user may not touch the namespace: etcd's RBAC, not our tokens, said no.
            return ServiceError(status: 403, code: "permission_denied", message: "etcd denied access: \(denied.message)")
        }
        if let error = error as? LockError {
            switch error.code {
            case .invalidName: return ServiceError(status: 400, code: "invalid_name", message: error.message)
            case .invalidTTL, .invalidArgument: return ServiceError(status: 400, code: "invalid_argument", message: error.message)
            case .permitsMismatch: return ServiceError(status: 409, code: "permits_mismatch", message: error.message)
            // A waiter's key removed from the queue (a force-release, an expired lease): its wait is over.
            case .ownershipLost: return ServiceError(status: 410, code: "lost", message: error.message)
            case .cancelled: return ServiceError(status: 503, code: "shutting_down", message: "the request was cancelled")
            case .sessionLost: return ServiceError(status: 503, code: "etcd_unavailable", message: error.message)
            default: return ServiceError(status: 500, code: "internal", message: error.message)
            }
        }
        if let error = error as? EtcdError {
            switch error.code {
            case .cancelled: return ServiceError(status: 503, code: "shutting_down", message: "the request was cancelled")
            case .unavailable, .noLeader, .timeout, .clientShutdown, .tlsFailure:
                return ServiceError(status: 503, code: "etcd_unavailable", message: "\(error)")
            default: return ServiceError(status: 500, code: "internal", message: "\(error)")
            }
        }
        if error is CancellationError { return ServiceError(status: 503, code: "shutting_down", message: "the request was cancelled") }
        return ServiceError(status: 500, code: "internal", message: "\(error)")
    }
}
