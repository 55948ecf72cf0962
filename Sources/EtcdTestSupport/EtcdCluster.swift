import Etcd
import Foundation

/// A real etcd cluster of 1 or 3 members on loopback, started by `scripts/etcd-cluster` in a
/// directory of its own, for tests that kill or freeze members.
///
/// ```swift
/// try await EtcdCluster.withCluster(members: 3) { cluster in
///     try await cluster.kill(member: 1)
/// }
/// ```
public final class EtcdCluster: Sendable {
    /// The members' client URLs, member 1 first.
    public let endpoints: [String]
    /// The directory holding the members' data, configuration, logs and PIDs.
    public let directory: String
    /// Whether auth was enabled (user `root`, password `root`).
    public let hasAuth: Bool
    /// For a TLS cluster, the settings of a client that trusts its CA and presents the client
    /// certificate it requires; `nil` for a plain HTTP cluster.
    public let tls: EtcdClient.Configuration.TLS?

    private init(endpoints: [String], directory: String, hasAuth: Bool, tls: EtcdClient.Configuration.TLS?) {
        self.endpoints = endpoints
        self.directory = directory
        self.hasAuth = hasAuth
        self.tls = tls
    }

    /// `--cacert FILE --cert FILE --key FILE` for a TLS cluster (both `etcdctl` and `etcdlock`
    /// take them), or nothing for a plain one.
    public var tlsOptions: [String] {
        guard let tls, let ca = tls.caCertificatePath, let certificate = tls.certificatePath, let key = tls.privateKeyPath
        else { return [] }
        return ["--cacert", ca, "--cert", certificate, "--key", key]
    }

    /// The throwaway TLS material of a TLS cluster (see `scripts/tls-certs`): `ca.pem`,
    /// `client.pem`, `other-ca.pem`, `expired.pem`, `wrong-name.pem` and their keys.
    public func tlsFile(_ name: String) -> String { "\(directory)/tls/\(name)" }

    /// Starts a cluster; fails (never skips) when etcd cannot be installed or started.
    ///
    /// The members are also stopped when the test process ends without stopping them (a crash,
    /// a kill): the script watches this process.
    ///
    /// With `tls`, the members serve `https` only and require a client certificate issued by
    /// the cluster's throwaway CA.
    public static func start(members: Int, auth: Bool = false, tls: Bool = false) async throws -> EtcdCluster {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("etcdlock-test-\(UUID().uuidString.prefix(8))").path
        var arguments = [
            "up", "--members", String(members), "--dir", directory, "--owner", String(ProcessInfo.processInfo.processIdentifier),
        ]
        if auth { arguments.append("--auth") }
        if tls { arguments.append("--tls") }
        let outcome = try await ScriptRunner.run("etcd-cluster", arguments)
        guard outcome.status == 0,
            let line = outcome.output.split(separator: "\n").first(where: { $0.hasPrefix("ETCD_ENDPOINTS=") })
        else {
            throw TestEnvironmentError(
                description: "scripts/etcd-cluster up failed (\(outcome.status)): \(outcome.errors)\(outcome.output)")
        }
        let endpoints = line.dropFirst("ETCD_ENDPOINTS=".count).split(separator: ",").map(String.init)
        func printed(_ name: String) -> String? {
            outcome.output.split(separator: "\n").first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
        }
        let settings = tls
            ? EtcdClient.Configuration.TLS(
                caCertificatePath: printed("ETCDLOCK_CACERT"), certificatePath: printed("ETCDLOCK_CERT"),
                privateKeyPath: printed("ETCDLOCK_KEY"))
            : nil
        return EtcdCluster(endpoints: endpoints, directory: directory, hasAuth: auth, tls: settings)
    }

    /// Runs `body` with a new cluster and always stops the cluster afterwards.
    public static func withCluster<Result: Sendable>(
        members: Int, auth: Bool = false, tls: Bool = false, _ body: (EtcdCluster) async throws -> Result
    ) async throws -> Result {
        let cluster = try await start(members: members, auth: auth, tls: tls)
        do {
            let result = try await body(cluster)
            try await cluster.stop()
            return result
        } catch {
            // Not cancelled with the test (a time limit cancels it): the members must still stop.
            await Task { try? await cluster.stop() }.value
            throw error
        }
    }

    /// Stops exactly the processes this cluster started and deletes its directory.
    public func stop() async throws {
        try await member("down")
    }

    /// Kills member `index` (1-based) with SIGKILL and waits until it is gone.
    public func kill(member index: Int) async throws { try await member("kill-member", index) }

    /// Freezes member `index` with SIGSTOP: its sockets stay open but it answers nothing.
    public func freeze(member index: Int) async throws { try await member("stop-member", index) }

    /// Resumes a frozen member with SIGCONT.
    public func resume(member index: Int) async throws { try await member("cont-member", index) }

    /// Starts a killed member again from its data and waits until it is healthy.
    public func restart(member index: Int) async throws { try await member("start-member", index) }

    /// Runs `etcdctl` against this cluster (as `root` when auth is on) and returns its output.
    public func etcdctl(_ arguments: [String]) async throws -> String {
        var full = ["--endpoints=\(endpoints.joined(separator: ","))"]
        if hasAuth { full.append("--user=root:root") }
        full += tlsOptions
        let outcome = try await ScriptRunner.runProgram("/usr/bin/etcdctl", full + arguments)
        guard outcome.status == 0 else {
            throw TestEnvironmentError(description: "etcdctl \(arguments.joined(separator: " ")) failed: \(outcome.errors)")
        }
        return outcome.output
    }

    /// The PID of member `index`.
    public func pid(ofMember index: Int) async throws -> Int32 {
        let outcome = try await ScriptRunner.run("etcd-cluster", ["pid-member", String(index), "--dir", directory])
        guard let pid = Int32(outcome.output.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw TestEnvironmentError(description: "no PID for member \(index): \(outcome.errors)")
        }
        return pid
    }

    /// A client configuration for this cluster's endpoints.
    public func configuration(requestTimeout: Duration = .seconds(5)) -> EtcdClient.Configuration {
        EtcdClient.Configuration(endpoints: endpoints, requestTimeout: requestTimeout, tls: tls)
    }

    private func member(_ command: String, _ index: Int? = nil) async throws {
        var arguments = [command]
        if let index { arguments.append(String(index)) }
        arguments += ["--dir", directory]
        let outcome = try await ScriptRunner.run("etcd-cluster", arguments)
        guard outcome.status == 0 else {
            throw TestEnvironmentError(
                description: "scripts/etcd-cluster \(arguments.joined(separator: " ")) failed: \(outcome.errors)")
        }
    }
}
