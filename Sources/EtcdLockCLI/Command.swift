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

    static let help = """
          --endpoints URLS   comma-separated etcd client URLs (default: $ETCD_ENDPOINTS,
                             then http://127.0.0.1:2379)
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
    }

    /// A client configuration for these options.
    var configuration: EtcdClient.Configuration {
        EtcdClient.Configuration(endpoints: endpoints, requestTimeout: timeout)
    }
}
