/// A revision of etcd's key space: it grows by one with every write transaction.
///
/// Revisions order events; a key's create revision also orders lock waiters.
public struct Revision: RawRepresentable, Sendable, Hashable, Comparable, CustomStringConvertible,
    ExpressibleByIntegerLiteral
{
    /// The revision number; 0 means "none" (a key that does not exist has create revision 0).
    public var rawValue: Int64

    /// Wraps a revision number.
    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// Wraps a revision number.
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// Wraps an integer literal.
    public init(integerLiteral value: Int64) { self.rawValue = value }

    /// The revision 0, which etcd uses for "no revision" or "does not exist".
    public static let zero = Revision(0)

    /// The revision right after this one.
    public var next: Revision { Revision(rawValue + 1) }

    public static func < (lhs: Revision, rhs: Revision) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String { String(rawValue) }
}
