import Etcd

/// A number etcd issues with each acquisition of a lock, strictly greater than every token
/// issued before for that lock (it is the lock key's create revision).
///
/// Send it with every write the lock protects; the protected resource rejects a token smaller
/// than the largest it has seen (see ``FencingGate``), so a holder that paused past its lease
/// cannot overwrite its successor's work.
public struct FencingToken: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The token's value (the lock key's create revision).
    public var rawValue: Int64

    /// Wraps a token value, e.g. one received from a client.
    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// The token of a lock key created at `revision`.
    public init(_ revision: Revision) { rawValue = revision.rawValue }

    /// The lock key's create revision.
    public var revision: Revision { Revision(rawValue) }

    public static func < (lhs: FencingToken, rhs: FencingToken) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}
