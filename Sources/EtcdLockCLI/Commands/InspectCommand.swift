import Etcd
import EtcdLock

/// `etcdlock inspect NAME`: the holder, its token, its lease's TTL, and the waiters in order.
struct InspectCommand: Command {
    static let name = "inspect"
    static let abstract = "show a lock's holder, token, lease TTL and waiters"
    static let usage = """
        Usage: etcdlock inspect NAME [options]

        \(ConnectionOptions.help)
          --namespace NS     lock namespace (default "default")
          --json             machine-readable output
        """

    let lockName: String
    let connection: ConnectionOptions
    let namespace: String
    let json: Bool

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        namespace = try arguments.option("--namespace") ?? "default"
        json = arguments.flag("--json")
        lockName = try arguments.positional("the lock NAME")
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            let prefix = try LockInspection.prefix(lockName, namespace: namespace)
            let queue = try await client.range(RangeRequest(.prefix(prefix), sort: .init(.createRevision, .ascending)))
            var entries: [(keyValue: KeyValue, ttl: Int64?)] = []
            for keyValue in queue.keyValues {
                var ttl: Int64?
                if let lease = keyValue.lease { ttl = try await client.timeToLive(lease).ttlSeconds }
                entries.append((keyValue, ttl))
            }
            if json {
                let items = entries.map { entry in
                    #"{"key":\#(jsonString(entry.keyValue.key.description)),"owner":\#(jsonString(entry.keyValue.valueString)),"token":\#(entry.keyValue.createRevision),"lease":\#(jsonString(entry.keyValue.lease?.hexString ?? "")),"lease_ttl_seconds":\#(entry.ttl.map(String.init) ?? "null")}"#
                }
                let holder = items.first ?? "null"
                let waiters = items.dropFirst().joined(separator: ",")
                Console.out(#"{"lock":\#(jsonString(lockName)),"revision":\#(queue.header.revision),"holder":\#(holder),"waiters":[\#(waiters)]}"#)
            } else if let holder = entries.first {
                Console.out("lock \(lockName): held by \(Console.field(holder.keyValue.valueString)), token \(holder.keyValue.createRevision), lease TTL \(holder.ttl.map { "\($0)s" } ?? "none")")
                Console.out("  key \(holder.keyValue.key)")
                for (index, waiter) in entries.dropFirst().enumerated() {
                    Console.out("  waiter \(index + 1): \(Console.field(waiter.keyValue.valueString)), token \(waiter.keyValue.createRevision), key \(waiter.keyValue.key)")
                }
            } else {
                Console.out("lock \(lockName): free")
            }
            return .success
        }
    }
}
