import Etcd
import EtcdLock

/// `etcdlock observe NAME`: prints each leader change.
struct ObserveCommand: Command {
    static let name = "observe"
    static let abstract = "print each change of an election's leader"
    static let usage = """
        Usage: etcdlock observe NAME [options]

        Prints the current leader of election NAME, then one line per change:
        "leader VALUE token N" or "no leader". Runs until SIGINT, SIGTERM or SIGHUP (exit 0) or
        --count lines. While etcd cannot be reached it keeps trying (one message on standard
        error), and on reconnecting prints the leader again only if it changed meanwhile.

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
        let signals = TerminationSignals()
        return try await EtcdClient.withClient(connection.configuration) { client in
            try await EtcdSession.withSession(client) { session in
                let election = try EtcdElection(electionName, session: session, namespace: namespace)
                return try await withThrowingTaskGroup(of: ExitStatus?.self) { group in
                    group.addTask { try await follow(election) }
                    group.addTask { await signals.wait().map { _ in .success } }
                    var status: ExitStatus?
                    for try await result in group where result != nil {
                        status = result
                        group.cancelAll()
                    }
                    return status ?? .success
                }
            }
        }
    }

    /// Prints leader changes until `--count` lines; rides out etcd being unreachable by
    /// observing again, printing a leader only when it differs from the last one printed.
    private func follow(_ election: EtcdElection) async throws -> ExitStatus? {
        var printed = 0
        var last: EtcdElection.Leader??
        var pause = Duration.milliseconds(100)
        var reportedOutage = false
        while !Task.isCancelled {
            do {
                let changes = try await election.observe()
                defer { changes.cancel() }
                for try await leader in changes {
                    pause = .milliseconds(100)
                    reportedOutage = false
                    if let last, last?.key == leader?.key, last?.token == leader?.token, last?.value == leader?.value {
                        continue
                    }
                    last = .some(leader)
                    Console.out(line(for: leader))
                    printed += 1
                    if let count, printed >= count { return .success }
                }
                return nil  // the stream ends only when cancelled
            } catch let error as EtcdError where error.isOutage && !Task.isCancelled {
                if !reportedOutage {
                    Console.error("etcdlock: etcd is unreachable (\(error)); still observing \(electionName)")
                    reportedOutage = true
                }
                do { try await Task.sleep(for: pause) } catch { return nil }
                pause = min(pause * 2, .seconds(2))
            } catch where Task.isCancelled {
                return nil
            }
        }
        return nil
    }

    private func line(for leader: EtcdElection.Leader?) -> String {
        guard let leader else { return json ? #"{"leader":null}"# : "no leader" }
        if json {
            return #"{"leader":\#(jsonString(leader.valueString)),"token":\#(leader.token),"key":\#(jsonString(leader.key.description))}"#
        }
        return "leader \(Console.field(leader.valueString)) token \(leader.token)"
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
            if Console.isUnsafe(scalar) {
                let hex = String(scalar.value, radix: 16)
                escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            } else {
                escaped.unicodeScalars.append(scalar)
            }
        }
    }
    return escaped + "\""
}
