import Etcd
import Foundation

/// The single-member etcd that most integration tests share.
///
/// `scripts/test` starts it and exports `ETCD_ENDPOINTS`. When that is not set (a bare
/// `swift test`), the first test to ask starts one with `scripts/etcd-cluster` and it is stopped
/// when the test process exits. If etcd cannot be started, tests fail; they never skip.
public enum TestEnvironment {
    private static let started = StartOnce()

    /// The shared cluster's endpoints.
    public static func endpoints() async throws -> [String] {
        if let variable = ProcessInfo.processInfo.environment["ETCD_ENDPOINTS"], !variable.isEmpty {
            return variable.split(separator: ",").map(String.init)
        }
        return try await started.endpoints()
    }

    /// A client configuration for the shared cluster.
    public static func configuration(requestTimeout: Duration = .seconds(5)) async throws -> EtcdClient.Configuration {
        EtcdClient.Configuration(endpoints: try await endpoints(), requestTimeout: requestTimeout, logger: logger)
    }

    /// With `ETCDLOCK_TEST_LOG=1`, the clients' debug log goes to standard error.
    public static let logger: EtcdLogger = {
        guard ProcessInfo.processInfo.environment["ETCDLOCK_TEST_LOG"] == "1" else { return .disabled }
        return EtcdLogger(level: .debug) { event in
            FileHandle.standardError.write(Data("[etcd \(event.level)] \(event.message) \(event.metadata)\n".utf8))
        }
    }()

    /// Runs `body` with a client of the shared cluster, shut down afterwards, in the caller's isolation.
    public static func withClient<Result>(
        isolation: isolated (any Actor)? = #isolation, _ body: (EtcdClient) async throws -> Result
    ) async throws -> Result {
        try await EtcdClient.withClient(try await configuration(), body)
    }
}

/// Starts the fallback cluster once per test process (concurrent first callers share one start)
/// and stops it at exit; the cluster script also stops it if the process dies without exiting.
private actor StartOnce {
    private var starting: Task<EtcdCluster, any Error>?

    func endpoints() async throws -> [String] {
        if let starting { return try await starting.value.endpoints }
        let start = Task { () throws -> EtcdCluster in
            let cluster = try await EtcdCluster.start(members: 1)
            fallbackClusterDirectory = cluster.directory
            atexit {
                if let directory = fallbackClusterDirectory {
                    ScriptRunner.runBlocking("etcd-cluster", ["down", "--dir", directory])
                }
            }
            return cluster
        }
        starting = start
        return try await start.value.endpoints
    }
}

/// Read by the `atexit` handler, which cannot capture context; written once, before it is registered.
nonisolated(unsafe) private var fallbackClusterDirectory: String?
