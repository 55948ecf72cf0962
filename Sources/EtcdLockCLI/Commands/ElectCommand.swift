import Etcd
import EtcdLock

/// `etcdlock elect NAME VALUE`: campaigns, says when it leads, holds until SIGINT/SIGTERM.
struct ElectCommand: Command {
    static let name = "elect"
    static let abstract = "campaign for leadership and hold it until interrupted"
    static let usage = """
        Usage: etcdlock elect NAME VALUE [options]

        Campaigns in election NAME with VALUE, prints "leader NAME VALUE token N" once leading,
        holds leadership until SIGINT or SIGTERM, then resigns and exits 0. Exits 1 if leadership
        is lost meanwhile.

        \(ConnectionOptions.help)
          --ttl SECONDS      session TTL (default 10)
          --namespace NS     election namespace (default "default")
        """

    let electionName: String
    let value: String
    let connection: ConnectionOptions
    let ttl: Duration
    let namespace: String

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        ttl = try parseSeconds(try arguments.option("--ttl") ?? "10", option: "--ttl")
        namespace = try arguments.option("--namespace") ?? "default"
        electionName = try arguments.positional("the election NAME")
        value = try arguments.positional("the VALUE to publish")
    }

    func run() async throws -> ExitStatus {
        let signals = TerminationSignals.stream()
        return try await EtcdClient.withClient(connection.configuration) { client in
            try await EtcdSession.withSession(client, ttl: ttl) { session in
                let election = try EtcdElection(electionName, session: session, namespace: namespace)
                let leadership = await withTaskGroup(of: EtcdElection.Leadership?.self) { group in
                    group.addTask { try? await election.campaign(value: value.utf8) }
                    group.addTask {
                        for await _ in signals { return nil }
                        return nil
                    }
                    let first = await group.next() ?? nil
                    group.cancelAll()
                    return first
                }
                guard let leadership else {
                    Console.error("etcdlock: stopped before leading \(electionName)")
                    return .failure
                }
                Console.out("leader \(electionName) \(value) token \(leadership.token)")
                let lost = await withTaskGroup(of: Bool.self) { group in
                    group.addTask {
                        _ = try? await session.waitUntilLost()
                        return !Task.isCancelled
                    }
                    group.addTask {
                        for await _ in signals { return false }
                        return false
                    }
                    let first = await group.next() ?? false
                    group.cancelAll()
                    return first
                }
                if lost {
                    Console.error("etcdlock: leadership of \(electionName) was lost")
                    return .failure
                }
                try await election.resign(leadership)
                Console.out("resigned \(electionName)")
                return .success
            }
        }
    }
}
