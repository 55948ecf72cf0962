/// One member of the etcd cluster.
public struct Member: Sendable, Hashable {
    /// The member's ID.
    public var id: UInt64
    /// Its name (empty until it started).
    public var name: String
    /// URLs other members reach it at.
    public var peerURLs: [String]
    /// URLs clients reach it at.
    public var clientURLs: [String]
    /// Whether it is a non-voting learner.
    public var isLearner: Bool
}

/// The members of the cluster.
public struct MemberList: Sendable, Hashable {
    /// The cluster's state when it answered.
    public var header: ResponseHeader
    /// Every member.
    public var members: [Member]
}

/// One member's view of itself and of the cluster.
public struct MemberStatus: Sendable, Hashable {
    /// The answering member's header (its `memberID` says who answered).
    public var header: ResponseHeader
    /// The member's etcd version.
    public var version: String
    /// The database size in bytes.
    public var databaseSize: Int64
    /// The ID of the member it considers leader (0 when it knows none).
    public var leaderID: UInt64
    /// Its Raft index.
    public var raftIndex: UInt64
    /// Its Raft term.
    public var raftTerm: UInt64
    /// Alarms or errors the member reports.
    public var errors: [String]

    /// Whether the answering member is the leader.
    public var isLeader: Bool { leaderID != 0 && leaderID == header.memberID }
}
