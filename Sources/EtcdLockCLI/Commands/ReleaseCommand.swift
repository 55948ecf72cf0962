import Etcd
import EtcdLock

/// `etcdlock release NAME --force [--token T] [--kind KIND]`: an administrator removes a lock's holder.
struct ReleaseCommand: Command {
    static let name = "release"
    static let abstract = "force-release a lock's holder (admin; --force required)"
    static let usage = """
        Usage: etcdlock release NAME --force [--token T] [--kind KIND] [options]

        Deletes the key of NAME's holder, so the next waiter gets the lock. The holder's lease is
        left alone; a holder supervised by etcdlock lock stops its command (it sees its key go),
        an HTTP holder's next renew answers 410. With --token, only the holder with that
        fencing token is removed. Readers of a read/write lock and a semaphore's permit holders
        hold together: when several do, --token must say which. Prints "released NAME: token T,
        owner O, at revision R", or "NAME: free; nothing released".

        \(ConnectionOptions.help)
          --force            required: this removes someone else's lock
          --token T          remove the holder only if its fencing token is T
          --kind KIND        lock (the mutex, default), rwlock or semaphore
          --namespace NS     lock namespace (default "default")

        Exit status: 0 released (or free); 1 held under another token than --token, or by
        several holders and no --token (nothing removed); 64 usage; 69 etcd unavailable.
        """

    let connection: ConnectionOptions
    let namespace: String
    let token: FencingToken?
    let kind: LockQueueState.Kind
    let lockName: String

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        namespace = try arguments.option("--namespace") ?? "default"
        token = try arguments.option("--token").map { text in
            guard let value = Int64(text), value > 0 else { throw UsageError(description: "--token must be a positive integer, not \(text)") }
            return FencingToken(rawValue: value)
        }
        kind = try LockQueueState.Kind.option(in: &arguments) ?? .lock
        guard arguments.flag("--force") else {
            throw UsageError(description: "release removes someone else's lock: say --force")
        }
        lockName = try arguments.positional("the lock NAME")
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            switch try await LockAdmin.forceRelease(lockName, namespace: namespace, kind: kind, token: token, client: client) {
            case .released(let holder, let revision):
                Console.out(
                    "released \(Console.field(lockName)): token \(holder.token), owner \(Console.field(holder.owner)), at revision \(revision)")
                return .success
            case .free:
                Console.out("\(Console.field(lockName)): free; nothing released")
                return .success
            case .severalHolders(let holders):
                Console.error(
                    "etcdlock release: \(Console.field(lockName)) has \(holders.count) holders (tokens \(holders.map { "\($0.token)" }.joined(separator: ", "))); say which with --token; nothing released")
                return .failure
            case .notHolder(let current):
                Console.error(
                    "etcdlock release: \(Console.field(lockName)) is held with token \(current.token), not \(token.map { "\($0)" } ?? "?"); nothing released")
                return .failure
            }
        }
    }
}
