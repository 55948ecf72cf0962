import Etcd

extension LockInspection {
    /// The key prefix of the read/write lock `name` in `namespace` (see ``EtcdReadWriteLock``):
    /// readers queue under its `read/` part, writers under its `write/` part.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    public static func readWriteLockPrefix(_ name: String, namespace: String = "default") throws -> EtcdKey {
        try LockName.prefix(namespace: namespace, kind: RecipeKind.readWriteLock.rawValue, name: name)
    }

    /// The key prefix of the semaphore `name` in `namespace` (see ``EtcdSemaphore``), under which
    /// its permit holders and waiters queue.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    public static func semaphorePrefix(_ name: String, namespace: String = "default") throws -> EtcdKey {
        try LockName.prefix(namespace: namespace, kind: RecipeKind.semaphore.rawValue, name: name)
    }

    /// What a semaphore key's value records: the permit count its holder acquired with, and the
    /// holder's ``EtcdSession/owner``.
    ///
    /// `permits` is `nil` when the value is not in the semaphore's format (a key written by
    /// something else); `owner` is then the whole value.
    public static func semaphoreRecord(_ value: [UInt8]) -> (permits: Int?, owner: String) {
        let record = QueueEntryRecord(value)
        return (record.permits, record.owner)
    }
}

/// Read-only access to where locks live, for tools that inspect them without a session.
public enum LockInspection {
    /// The key prefix of the lock `name` in `namespace`, under which its holder and waiters queue.
    ///
    /// - Throws: ``LockError`` `.invalidName`.
    public static func prefix(_ name: String, namespace: String = "default") throws -> EtcdKey {
        try LockName.prefix(namespace: namespace, kind: "lock", name: name)
    }
}
