import Etcd
import EtcdLock

/// `etcdlock observe NAME`: prints each leader change.
struct ObserveCommand: Command {
    static let name = "observe"
    static let abstract = "print each change of an election's leader"
    static let usage = """
        Usage: etcdlock observe NAME [options]

        Prints the current leader of election NAME, then one line per change:
        "leader VALUE token N" or "no leader". Runs until SIGINT/SIGTERM or --count changes.

        \(ConnectionOptions.help)
          --namespace NS     election namespace (default "default")
          --count N          exit after N lines
          --json             one JSON object per line
        """

    let electionName: String
    let connection: ConnectionOptions
    let namespace: String
    let count: Int?
    let json: Bool

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        namespace = try arguments.option("--namespace") ?? "default"
        count = try arguments.option("--count").map {
            guard let count = Int($0), count > 0 else { throw UsageError(description: "--count must be a positive number") }
            return count
        }
        json = arguments.flag("--json")
        electionName = try arguments.positional("the election NAME")
    }

    func run() async throws -> ExitStatus {
        let signals = TerminationSignals.stream()
        return try await EtcdClient.withClient(connection.configuration) { client in
            try await EtcdSession.withSession(client) { session in
                let election = try EtcdElection(electionName, session: session, namespace: namespace)
                let changes = try await election.observe()
                return try await withThrowingTaskGroup(of: ExitStatus.self) { group in
                    group.addTask {
                        var printed = 0
                        for try await leader in changes {
                            Console.out(line(for: leader))
                            printed += 1
                            if let count, printed >= count { return .success }
                        }
                        return .success
                    }
                    group.addTask {
                        for await _ in signals { return .success }
                        return .success
                    }
                    let first = try await group.next() ?? .success
                    group.cancelAll()
                    changes.cancel()
                    return first
                }
            }
        }
    }

    private func line(for leader: EtcdElection.Leader?) -> String {
        guard let leader else { return json ? #"{"leader":null}"# : "no leader" }
        if json {
            return #"{"leader":\#(jsonString(leader.valueString)),"token":\#(leader.token),"key":\#(jsonString(leader.key.description))}"#
        }
        return "leader \(leader.valueString) token \(leader.token)"
    }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
    var escaped = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        case "\r": escaped += "\\r"
        case "\t": escaped += "\\t"
        default:
            if scalar.value < 0x20 {
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
    }
    return escaped + "\""
}
