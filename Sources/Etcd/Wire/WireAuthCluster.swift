struct WireAuthenticateRequest: Codable {
    var name: String
    var password: String
}

struct WireAuthenticateResponse: Codable {
    var header: WireResponseHeader?
    var token: String?
}

struct WireMember: Codable {
    var ID: WireUInt64?
    var name: String?
    var peerURLs: [String]?
    var clientURLs: [String]?
    var isLearner: Bool?
}

struct WireMemberListResponse: Codable {
    var header: WireResponseHeader?
    var members: [WireMember]?
}

struct WireStatusResponse: Codable {
    var header: WireResponseHeader?
    var version: String?
    var dbSize: WireInt64?
    var leader: WireUInt64?
    var raftIndex: WireUInt64?
    var raftTerm: WireUInt64?
    var raftAppliedIndex: WireUInt64?
    var errors: [String]?
    var dbSizeInUse: WireInt64?
    var isLearner: Bool?
}

struct WireMoveLeaderRequest: Codable {
    var targetID: WireUInt64
}

struct WireMoveLeaderResponse: Codable {
    var header: WireResponseHeader?
}
