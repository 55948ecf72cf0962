import Etcd
import EtcdLock

/// `etcdlock inspect NAME`: the holders, their tokens, their leases' TTLs, and the waiters in
/// order, of the mutex, read/write lock and semaphore named NAME.
struct InspectCommand: Command {
    static let name = "inspect"
    static let abstract = "show a lock's holders, tokens, lease TTLs and waiters"
    static let usage = """
        Usage: etcdlock inspect NAME [options]

        Shows who holds NAME and who waits for it, in order, with each one's fencing token,
        lease and owner. A name can have three unrelated locks: the mutex (etcdlock lock NAME),
        the read/write lock (--read, --write) and the semaphore (--permits N). Without --kind,
        each of them that has holders or waiters is shown, labelled, the mutex first, and
        "lock NAME: free" when none has. A read/write lock or a semaphore is shown as

          rwlock NAME: held for reading by 2, 1 waiting     (or: held for writing, …)
          semaphore NAME: 2 of 3 permits held, 0 waiting
            holder (read): OWNER, token T, lease L, lease TTL 9s, key K
            waiter 1 (write): OWNER, token T, lease L, lease TTL 9s, key K

        \(ConnectionOptions.help)
          --namespace NS     lock namespace (default "default")
          --kind KIND        show only this kind: lock (the mutex), rwlock or semaphore, even
                             when free
          --json             machine-readable output: one object, {"lock": NAME, "revision",
                             the mutex's "holder" and "waiters", "rwlock": {"mode", "holders",
                             "waiters"}, "semaphore": {"permits", "holders", "waiters"}}; with
                             --kind, only that kind's fields
        """

    let lockName: String
    let connection: ConnectionOptions
    let namespace: String
    let kind: LockQueueState.Kind?
    let json: Bool

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        namespace = try arguments.option("--namespace") ?? "default"
        kind = try LockQueueState.Kind.option(in: &arguments)
        json = arguments.flag("--json")
        lockName = try arguments.positional("the lock NAME")
    }

    func run() async throws -> ExitStatus {
        try await EtcdClient.withClient(connection.configuration) { client in
            var revision: Revision?
            var queues: [LockQueueState] = []
            for kind in kind.map({ [$0] }) ?? LockQueueState.Kind.allCases {
                // Every queue as of the first read's revision: one consistent picture.
                let (queue, read) = try await LockAdmin.queue(lockName, namespace: namespace, kind: kind, revision: revision, client: client)
                revision = read
                queues.append(queue)
            }
            if json {
                Console.out(jsonReport(queues, revision: revision ?? Revision(rawValue: 0)))
            } else {
                for line in textReport(queues) { Console.out(line) }
            }
            return .success
        }
    }
}
