import Etcd

extension LockHandle {
    /// Which recipe a handle holds, and how: the mutex, one side of a read/write lock, or one
    /// permit of a semaphore.
    ///
    /// A handle's key follows from its mode, name, namespace and lease alone, so a handle of any
    /// mode can be rebuilt anywhere from those values and its token.
    public enum Mode: Sendable, Hashable, CustomStringConvertible {
        /// The mutex of the name (``EtcdMutex``): one holder at a time.
        case exclusive
        /// A read hold of the name's read/write lock (``EtcdReadWriteLock``): shared with other
        /// readers, never with a writer.
        case read
        /// The write hold of the name's read/write lock: nobody else holds it.
        case write
        /// One permit of the name's semaphore of `permits` (``EtcdSemaphore``). Every holder of a
        /// name must use the same count: another count is refused with `.permitsMismatch`.
        case permit(of: Int)

        /// The hold, as a ``LockGuard`` reports it.
        public var lockMode: LockMode {
            switch self {
            case .exclusive: .exclusive
            case .read: .read
            case .write: .write
            case .permit: .permit
            }
        }

        /// `exclusive`, `read`, `write` or `permit of N`.
        public var description: String {
            switch self {
            case .exclusive, .read, .write: lockMode.rawValue
            case .permit(let permits): "permit of \(permits)"
            }
        }

        /// The recipe whose queue holds the key.
        var kind: RecipeKind {
            switch self {
            case .exclusive: .mutex
            case .read, .write: .readWriteLock
            case .permit: .semaphore
            }
        }

        /// The key a handle of this mode holds: `<prefix><lease-hex>` for the mutex; the first
        /// entry key of a session on `lease` for the others (`<prefix>[read/|write/]<lease-hex>-0`),
        /// as each handle's acquisition has a session of its own.
        func key(name: String, namespace: String, lease: LeaseID) throws -> EtcdKey {
            let prefix = try LockName.prefix(namespace: namespace, kind: kind.rawValue, name: name)
            switch self {
            case .exclusive: return prefix.appending(lease.hexString)
            case .read: return prefix.appending("read/" + LockQueue.entryLeaf(leaseSegment: lease.hexString, number: 0))
            case .write: return prefix.appending("write/" + LockQueue.entryLeaf(leaseSegment: lease.hexString, number: 0))
            case .permit: return prefix.appending(LockQueue.entryLeaf(leaseSegment: lease.hexString, number: 0))
            }
        }
    }
}
