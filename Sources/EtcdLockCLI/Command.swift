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
        let text = try arguments.option("--endpoints") ?? ProcessInfo.processInfo.environment["ETCD_ENDPOINTS"]
        endpoints = (text?.isEmpty == false ? text! : "http://127.0.0.1:2379")
            .split(separator: ",").map { String($0) }
        timeout = .seconds(5)
    }

    /// A client configuration for these options.
    var configuration: EtcdClient.Configuration {
        EtcdClient.Configuration(endpoints: endpoints, requestTimeout: timeout)
    }
}

/// Writes to standard output and standard error; only the CLI writes.
enum Console {
    static func out(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func error(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }
}
