import Etcd
import EtcdLock

/// `etcdlock elect NAME VALUE`: campaigns, says when it leads, holds until told to stop.
struct ElectCommand: Command {
    static let name = "elect"
    static let abstract = "campaign for leadership and hold it until interrupted"
    static let usage = """
        Usage: etcdlock elect NAME VALUE [options]

        Campaigns in election NAME with VALUE, prints "leader NAME VALUE token N" once leading,
        and leads until SIGINT, SIGTERM or SIGHUP: then it resigns, prints "resigned NAME" and
        exits 0. If leadership is lost meanwhile (the session expired, the key was deleted) it
        exits 1. A signal while still campaigning withdraws the campaign and exits 128 + the
        signal. Standard input is not read.

        \(ConnectionOptions.help)
          --ttl SECONDS      session TTL (default 10)
          --timeout SECONDS  give up campaigning after this long (exit 75)
          --namespace NS     election namespace (default "default")

        Exit status: 0 resigned on a signal; 1 leadership lost; 64 usage; 69 etcd unavailable;
        75 not elected within --timeout; 128 + N stopped by signal N before leading.
        """

    let electionName: String
    let value: String
    let connection: ConnectionOptions
    let ttl: Duration
    let timeout: Duration?
    let namespace: String

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "10", option: "--ttl", maximum: 365 * 24 * 3600)
        timeout = try arguments.option("--timeout").map { try parseSeconds($0, option: "--timeout") }
        namespace = try arguments.option("--namespace") ?? "default"
        electionName = try arguments.positional("the election NAME")
        value = try arguments.positional("the VALUE to publish")
    }

    private enum Event: Sendable {
        case elected(Result<EtcdElection.Leadership, any Error>)
        case lost(LockLoss)
        case signal(Int32)
    }

    func run() async throws -> ExitStatus {
        let signals = TerminationSignals()
        return try await EtcdClient.withClient(connection.configuration) { client in
            // A bounded campaign bounds getting the session too (a frozen etcd answers nothing).
            try await EtcdSession.withSession(client, ttl: ttl, grantTimeout: timeout.map { min($0, connection.configuration.requestTimeout) }) { session in
                let election = try EtcdElection(electionName, session: session, namespace: namespace)
                let campaigning: [@Sendable () async -> Event?] = [
                    { .elected(await Result(catching: { try await election.campaign(value: value.utf8, timeout: timeout) })) },
                    { await signals.wait().map { .signal($0) } },
                ]
                let campaign = await firstResult(of: campaigning)
                let leadership: EtcdElection.Leadership
                switch campaign {
                case .elected(let result):
                    do {
                        leadership = try result.get()
                    } catch let error as LockError where error.code == .timeout {
                        Console.error("etcdlock: not elected leader of \(electionName) within the timeout")
                        return .temporaryFailure
                    }
                case .signal(let number):
                    // The cancelled campaign withdrew its key; the session's lease is revoked on the way out.
                    Console.error("etcdlock: \(signalName(number)) before leading \(electionName); withdrew")
                    return ExitStatus(code: 128 + number)
                case .lost, nil:
                    throw LockError(code: .cancelled, message: "campaigning in \(electionName) was cancelled")
                }
                Console.out("leader \(electionName) \(Console.field(value)) token \(leadership.token)")
                let leading: [@Sendable () async -> Event?] = [
                    { (try? await election.waitUntilLost(leadership)).map { .lost($0) } },
                    { await signals.wait().map { .signal($0) } },
                ]
                let end = await firstResult(of: leading)
                if case .lost(let loss) = end {
                    Console.error("etcdlock: leadership of \(electionName) was lost: \(loss)")
                    return .failure
                }
                try await election.resign(leadership)
                Console.out("resigned \(electionName)")
                return .success
            }
        }
    }
}
