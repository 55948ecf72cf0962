import Etcd
import EtcdLock

/// `etcdlock list [PREFIX]`: the held mutexes of a namespace, straight from etcd.
struct ListCommand: Command {
    static let name = "list"
    static let abstract = "list the held locks of a namespace, with holders and queue lengths"
    static let usage = """
        Usage: etcdlock list [PREFIX] [options]

        Lists the mutexes of the namespace that are held (those whose name starts with PREFIX,
        when given), one per line, sorted by name:

          NAME: held by OWNER, token T, lease L, N waiting

        \(ConnectionOptions.help)
          --namespace NS     lock namespace (default "default")
          --json             one object: {"locks": [{"name", "owner", "token", "lease", "waiting"}]}
                             (tokens and waiting as numbers, the lease in hex)
        """

    let connection: ConnectionOptions
    let namespace: String
    let json: Bool
    let prefix: String

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        namespace = try arguments.option("--namespace") ?? "default"
        json = arguments.flag("--json")
        prefix = (try? arguments.positional("PREFIX")) ?? ""
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            let locks = try await LockAdmin.list(namespace: namespace, namePrefix: prefix, client: client)
            if json {
                let objects = locks.map { lock in
                    #"{"name":\#(jsonString(lock.name)),"owner":\#(jsonString(lock.holder.owner)),"token":\#(lock.holder.token),"#
                        + #""lease":\#(jsonString(lock.holder.lease?.hexString ?? "")),"waiting":\#(lock.waiting)}"#
                }
                Console.out(#"{"locks":[\#(objects.joined(separator: ","))]}"#)
            } else {
                for lock in locks {
                    Console.out(
                        "\(Console.field(lock.name)): held by \(Console.field(lock.holder.owner)), token \(lock.holder.token), "
                            + "lease \(lock.holder.lease?.hexString ?? "none"), \(lock.waiting) waiting")
                }
            }
            return .success
        }
    }
}
