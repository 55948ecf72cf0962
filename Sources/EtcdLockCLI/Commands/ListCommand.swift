import Etcd
import EtcdLock

/// `etcdlock list [PREFIX] [--kind KIND]`: the held locks of a namespace, straight from etcd.
struct ListCommand: Command {
    static let name = "list"
    static let abstract = "list the held locks of a namespace, with holders and queue lengths"
    static let usage = """
        Usage: etcdlock list [PREFIX] [options]

        Lists the mutexes (or, with --kind, the read/write locks or semaphores) of the namespace
        that are held (those whose name starts with PREFIX, when given), one per line, sorted
        by name; the first holder is shown, and how many hold together when several do:

          NAME: held [for reading|writing ]by OWNER[ and K more], token T, lease L, N waiting[, held for S]

        \(ConnectionOptions.help)
          --namespace NS     lock namespace (default "default")
          --kind KIND        lock (the mutex, default), rwlock or semaphore
          --json             one object: {"locks": [{"name", "owner", "token", "lease", "mode", "holders", "waiting", "held_for_seconds"}]}
                             (tokens and waiting as numbers, the lease in hex)
        """

    let connection: ConnectionOptions
    let namespace: String
    let json: Bool
    let kind: LockQueueState.Kind
    let prefix: String

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        namespace = try arguments.option("--namespace") ?? "default"
        json = arguments.flag("--json")
        kind = try LockQueueState.Kind.option(in: &arguments) ?? .lock
        prefix = (try? arguments.positional("PREFIX")) ?? ""
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            let locks = try await LockAdmin.list(namespace: namespace, namePrefix: prefix, kind: kind, client: client)
            if json {
                let objects = locks.map { lock in
                    #"{"name":\#(jsonString(lock.name)),"owner":\#(jsonString(lock.holder.owner)),"token":\#(lock.holder.token),"#
                        + #""lease":\#(jsonString(lock.holder.lease?.hexString ?? "")),"mode":\#(jsonString(lock.holder.mode.rawValue)),"#
                        + #""holders":\#(lock.holders.count),"waiting":\#(lock.waiting),"#
                        + #""held_for_seconds":\#(QueueEntryRecord.age(of: lock.holder.admittedAt).map { Console.seconds($0, unit: "") } ?? "null")}"#
                }
                Console.out(#"{"locks":[\#(objects.joined(separator: ","))]}"#)
            } else {
                for lock in locks {
                    Console.out(
                        "\(Console.field(lock.name)): held\(kind == .rwlock ? " for \(lock.holder.mode == .write ? "writing" : "reading")" : "") by \(Console.field(lock.holder.owner))\(lock.holders.count > 1 ? " and \(lock.holders.count - 1) more" : ""), token \(lock.holder.token), "
                            + "lease \(lock.holder.lease?.hexString ?? "none"), \(lock.waiting) waiting"
                            + (QueueEntryRecord.age(of: lock.holder.admittedAt).map { ", held for \(Console.seconds($0))" } ?? ""))
                }
            }
            return .success
        }
    }
}
