import Etcd
import Foundation
import Synchronization

/// The single-member etcd that most integration tests share.
///
/// `scripts/test` starts it and exports `ETCD_ENDPOINTS`. When that is not set (a bare
/// `swift test`), the first test to ask starts one with `scripts/etcd-cluster` and it is stopped
/// when the test process exits. If etcd cannot be started, tests fail; they never skip.
public enum TestEnvironment {
    private static let started = StartOnce(tls: false)
    private static let startedTLS = StartOnce(tls: true)

    /// The shared cluster's endpoints.
    public static func endpoints() async throws -> [String] {
        if let variable = ProcessInfo.processInfo.environment["ETCD_ENDPOINTS"], !variable.isEmpty {
            return variable.split(separator: ",").map(String.init)
        }
        return try await started.cluster().endpoints
    }

    /// A 1-member cluster that serves only `https` and requires client certificates, shared by
    /// the TLS suites of this test process: started by the first caller, stopped at exit. Its
    /// ``EtcdCluster/configuration(requestTimeout:)`` trusts its CA and presents its client
    /// certificate.
    public static func tlsCluster() async throws -> EtcdCluster {
        try await startedTLS.cluster()
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

/// Starts a shared cluster once per test process (concurrent first callers share one start)
/// and stops it at exit; the cluster script also stops it if the process dies without exiting.
private actor StartOnce {
    private let tls: Bool
    private var starting: Task<EtcdCluster, any Error>?

    init(tls: Bool) { self.tls = tls }

    func cluster() async throws -> EtcdCluster {
        if let starting { return try await starting.value }
        let tls = self.tls
        let start = Task { () throws -> EtcdCluster in
            let cluster = try await EtcdCluster.start(members: 1, tls: tls)
            sharedClusterDirectories.withLock { directories in
                if directories.isEmpty {
                    atexit {
                        for directory in sharedClusterDirectories.withLock({ $0 }) {
                            ScriptRunner.runBlocking("etcd-cluster", ["down", "--dir", directory])
                        }
                    }
                }
                directories.append(cluster.directory)
            }
            return cluster
        }
        starting = start
        return try await start.value
    }
}

/// The shared clusters to stop at exit (read by the `atexit` handler, which cannot capture context).
private let sharedClusterDirectories = Mutex<[String]>([])
