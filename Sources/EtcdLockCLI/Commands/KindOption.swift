import EtcdLock

extension LockQueueState.Kind {
    /// The kind `--kind KIND` names (`lock`, `rwlock`, `semaphore`), `nil` when the option is absent.
    static func option(in arguments: inout Arguments) throws -> Self? {
        try arguments.option("--kind").map { text in
            guard let kind = Self(rawValue: text) else {
                throw UsageError(description: "--kind must be lock, rwlock or semaphore, not \(text)")
            }
            return kind
        }
    }
}
