/// What every etcd response says about the cluster at the time it answered.
public struct ResponseHeader: Sendable, Hashable {
    /// The cluster that answered.
    public var clusterID: UInt64
    /// The member that answered.
    public var memberID: UInt64
    /// The key space's revision when the request was served.
    public var revision: Revision
    /// The Raft term of the answering member.
    public var raftTerm: UInt64

    /// Creates a header; responses build it for you.
    public init(clusterID: UInt64, memberID: UInt64, revision: Revision, raftTerm: UInt64) {
        self.clusterID = clusterID
        self.memberID = memberID
        self.revision = revision
        self.raftTerm = raftTerm
    }
}
