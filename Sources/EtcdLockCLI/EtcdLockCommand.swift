import Etcd
import EtcdLock
import Foundation

/// The `etcdlock` command: dispatches to a subcommand and maps errors to exit statuses.
enum EtcdLockCommand {
    /// Commands `--help` lists.
    static let commands: [any Command.Type] = [
        LockCommand.self, ElectCommand.self, ObserveCommand.self, InspectCommand.self, ListCommand.self, ReleaseCommand.self,
        ServeCommand.self, DemoCommand.self, BenchCommand.self, VerifyCommand.self,
    ]

    /// Commands that exist but are not listed (helpers of other commands).
    static let hiddenCommands: [any Command.Type] = [DemoWorkerCommand.self, VerifyClientCommand.self]

    static var help: String {
        var text = """
            etcdlock: locks, leader election and fencing on etcd.

            Usage: etcdlock <command> [options]

            Commands:

            """
        for command in commands {
            text += "  \(command.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(command.abstract)\n"
        }
        text += """

            Run 'etcdlock <command> --help' for a command's options.

            Exit status: 0 success, 1 failure, 64 usage error, 69 etcd unavailable (TLS
            failures too), 75 lock not acquired (--try or --timeout), 77 etcd refused the
            user (wrong credentials, or no access to the lock), 78 semaphore held with another
            --permits count,
            128 + N stopped by signal N.
            """
        return text
    }

    /// Runs the command line and returns the process exit status.
    static func main(_ arguments: [CommandLineArgument]) async -> Int32 {
        guard let name = arguments.first?.shown, name != "--help", name != "-h", name != "help" else {
            Console.out(help)
            return arguments.isEmpty ? ExitStatus.usage.code : ExitStatus.success.code
        }
        guard let command = (commands + hiddenCommands).first(where: { $0.name == name }) else {
            Console.error("etcdlock: unknown command '\(name)'")
            Console.error(help)
            return ExitStatus.usage.code
        }
        var parsed = Arguments(Array(arguments.dropFirst()))
        if parsed.wantsHelp {
            Console.out(command.usage)
            return ExitStatus.success.code
        }
        do {
            let instance = try command.init(parsing: &parsed)
            try parsed.finish()
            return try await instance.run().code
        } catch let error as UsageError {
            Console.error("etcdlock \(name): \(error)")
            Console.error(String(command.usage.prefix { $0 != "\n" }))
            Console.error("Run 'etcdlock \(name) --help' for the options.")
            return ExitStatus.usage.code
        } catch {
            Console.error("etcdlock \(name): \(error)")
            return exitStatus(for: error).code
        }
    }

    /// The one place errors become exit statuses.
    static func exitStatus(for error: any Error) -> ExitStatus {
        if let status = error as? ExitStatus { return status }
        let etcdError = (error as? EtcdError) ?? (error as? LockError)?.underlying
        // Refused credentials are access denied too, never the plain 1 a lost lock exits with.
        if let code = etcdError?.code, [.permissionDenied, .authenticationFailed, .unauthenticated].contains(code) {
            return .permissionDenied
        }
        if let error = error as? LockError {
            switch error.code {
            case .invalidName, .invalidTTL, .invalidArgument: return .usage
            case .timeout: return .temporaryFailure
            case .permitsMismatch: return .permitsMismatch
            default: return .failure
            }
        }
        if let error = error as? EtcdError {
            switch error.code {
            case .unavailable, .noLeader, .timeout, .tlsFailure: return .unavailable
            case .invalidArgument, .invalidEndpoint: return .usage
            default: return .failure
            }
        }
        return .failure
    }
}
