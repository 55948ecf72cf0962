import Etcd
import Foundation

/// One `etcdlock` subcommand.
protocol Command: Sendable {
    /// The subcommand's name on the command line.
    static var name: String { get }
    /// One line saying what it does.
    static var abstract: String { get }
    /// The usage line and option descriptions.
    static var usage: String { get }
    /// Parses the subcommand's arguments.
    init(parsing arguments: inout Arguments) throws
    /// Runs it and returns the exit status.
    func run() async throws -> ExitStatus
}

/// Options every command that talks to etcd shares.
struct ConnectionOptions: Sendable {
    var endpoints: [String]
    var timeout: Duration
    /// TLS settings from `--cacert`, `--cert`, `--key` or their environment variables; `nil` when
    /// none was given (an `https://` endpoint then trusts the system's CAs).
    var tls: EtcdClient.Configuration.TLS?
    /// The etcd user from `--user` or `ETCDLOCK_USER`; `nil` without auth.
    var credentials: EtcdClient.Configuration.Credentials?

    static let help = """
          --endpoints URLS   comma-separated etcd client URLs (default: $ETCD_ENDPOINTS,
                             then http://127.0.0.1:2379)
          --cacert FILE      trust these CA certificates (PEM) for https:// members instead of
                             the system's (default: $ETCDLOCK_CACERT)
          --cert FILE        client certificate (PEM) for members that require one
                             (default: $ETCDLOCK_CERT)
          --key FILE         the client certificate's private key (PEM) (default: $ETCDLOCK_KEY)
                             With any of these, URLs without a scheme are https://.
          --user NAME:PASSWORD  the etcd user, when etcd's auth is on; prefer the
                             environment, which other users cannot see (default: $ETCDLOCK_USER)
        """

    init(parsing arguments: inout Arguments) throws {
        if let given = try arguments.option("--endpoints") {
            endpoints = given.split(separator: ",", omittingEmptySubsequences: false).map { String($0) }
            if given.isEmpty || endpoints.contains(where: { $0.trimmingCharacters(in: .whitespaces).isEmpty }) {
                throw UsageError(description: "--endpoints needs comma-separated URLs, not \"\(given)\"")
            }
        } else if let variable = ProcessInfo.processInfo.environment["ETCD_ENDPOINTS"], !variable.isEmpty {
            endpoints = variable.split(separator: ",").map { String($0) }
        } else {
            endpoints = ["http://127.0.0.1:2379"]
        }
        timeout = .seconds(5)
        let caCertificate = try Self.value(&arguments, "--cacert", environment: "ETCDLOCK_CACERT")
        let certificate = try Self.value(&arguments, "--cert", environment: "ETCDLOCK_CERT")
        let key = try Self.value(&arguments, "--key", environment: "ETCDLOCK_KEY")
        if let user = try Self.value(&arguments, "--user", environment: "ETCDLOCK_USER") {
            guard let colon = user.firstIndex(of: ":"), colon != user.startIndex else {
                throw UsageError(description: "--user (or ETCDLOCK_USER) needs NAME:PASSWORD")
            }
            credentials = .init(name: String(user[..<colon]), password: String(user[user.index(after: colon)...]))
        }
        if caCertificate != nil || certificate != nil || key != nil {
            tls = EtcdClient.Configuration.TLS(
                caCertificatePath: caCertificate, certificatePath: certificate, privateKeyPath: key)
        }
    }

    /// A client configuration for these options.
    var configuration: EtcdClient.Configuration {
        EtcdClient.Configuration(endpoints: endpoints, requestTimeout: timeout, credentials: credentials, tls: tls)
    }

    /// The endpoints and TLS files as command-line options, for a child `etcdlock` process.
    /// (Credentials stay out of it: a command line is visible to every user.)
    var childArguments: [String] {
        var arguments = ["--endpoints", endpoints.joined(separator: ",")]
        if let path = tls?.caCertificatePath { arguments += ["--cacert", path] }
        if let path = tls?.certificatePath { arguments += ["--cert", path] }
        if let path = tls?.privateKeyPath { arguments += ["--key", path] }
        return arguments
    }

    /// The value of option `name`, else of the environment variable, else `nil` (flags win).
    private static func value(_ arguments: inout Arguments, _ name: String, environment: String) throws -> String? {
        if let given = try arguments.option(name) {
            guard !given.isEmpty else { throw UsageError(description: "\(name) needs a value") }
            return given
        }
        guard let variable = ProcessInfo.processInfo.environment[environment], !variable.isEmpty else { return nil }
        return variable
    }
}
