/// The identifier of an etcd lease.
///
/// Keys attached to a lease are deleted when the lease expires or is revoked.
public struct LeaseID: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The lease number etcd assigned (never 0 for a real lease).
    public var rawValue: Int64

    /// Wraps a lease number.
    public init(rawValue: Int64) { self.rawValue = rawValue }

    /// Wraps a lease number.
    public init(_ rawValue: Int64) { self.rawValue = rawValue }

    /// The lease number as 16 lowercase hex digits, as etcdctl prints it.
    public var hexString: String {
        let digits = String(UInt64(bitPattern: rawValue), radix: 16)
        return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
    }

    public var description: String { hexString }
}
