/// Responses captured from a real etcd 3.4.23 gateway (see ../shared/ETCD-GATEWAY.md).
enum GoldenJSON {
    static let header = #""header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"2","raft_term":"2"}"#
    static let range = #"{\#(header),"kvs":[{"key":"YS94","create_revision":"2","mod_revision":"2","version":"1","value":"dg=="}],"count":"1"}"#
    static let emptyRange = #"{\#(header)}"#
    static let failedTxn = #"{\#(header),"responses":[{"response_range":{"header":{"revision":"2"},"kvs":[{"key":"YS94","create_revision":"2","mod_revision":"2","version":"1","value":"dg=="}],"count":"1"}}]}"#
    static let leaseGrant = #"{\#(header),"ID":"2324035531379548681","TTL":"5"}"#
    static let keepAliveAlive = #"{"result":{\#(header),"ID":"2324035531379548688","TTL":"30"}}"#
    static let keepAliveGone = #"{"result":{\#(header),"ID":"77"}}"#
    static let timeToLive = #"{\#(header),"ID":"2324035531379548688","TTL":"29","grantedTTL":"30","keys":["YS8y"]}"#
    static let timeToLiveGone = #"{\#(header),"ID":"77","TTL":"-1"}"#
    static let deleteWithPrevious = #"{\#(header),"deleted":"1","prev_kvs":[{"key":"YS94","create_revision":"2","mod_revision":"2","version":"1","value":"dg=="}]}"#
    static let memberList = #"{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},"members":[{"ID":"3319814642761637952","name":"m1","peerURLs":["http://127.0.0.1:23800"],"clientURLs":["http://127.0.0.1:23790"]}]}"#
    static let status = #"{\#(header),"version":"3.4.23","dbSize":"20480","leader":"3319814642761637952","raftIndex":"8","raftTerm":"2","raftAppliedIndex":"8","dbSizeInUse":"16384"}"#

    static let watchCreated = #"{"result":{\#(header),"created":true}}"#
    static let watchPut = #"{"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"YS8x","create_revision":"4","mod_revision":"4","version":"1","value":"dg=="}}]}}"#
    static let watchDelete = #"{"result":{"header":{"revision":"6"},"events":[{"type":"DELETE","kv":{"key":"YS8x","mod_revision":"6"},"prev_kv":{"key":"YS8x","create_revision":"4","mod_revision":"5","version":"2","value":"dw=="}}]}}"#
    static let watchCompacted = #"{"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","raft_term":"2"},"canceled":true,"compact_revision":"5"}}"#
    static let watchBadToken = #"{"result":{\#(header),"watch_id":"-1","created":true,"canceled":true,"cancel_reason":"rpc error: code = Unauthenticated desc = etcdserver: invalid auth token"}}"#
    static let watchNoLeader = #"{"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader","http_status":"Service Unavailable"}}"#

    static let errorLeaseNotFound = #"{"error":"etcdserver: requested lease not found","message":"etcdserver: requested lease not found","code":5}"#
    static let errorCompacted = #"{"error":"etcdserver: mvcc: required revision has been compacted","message":"etcdserver: mvcc: required revision has been compacted","code":11}"#
    static let errorFuture = #"{"error":"etcdserver: mvcc: required revision is a future revision","message":"etcdserver: mvcc: required revision is a future revision","code":11}"#
    static let errorPermission = #"{"error":"etcdserver: permission denied","message":"etcdserver: permission denied","code":7}"#
    static let errorBadToken = #"{"error":"etcdserver: invalid auth token","message":"etcdserver: invalid auth token","code":16}"#
    static let errorWrongPassword = #"{"error":"etcdserver: authentication failed, invalid user ID or password","message":"etcdserver: authentication failed, invalid user ID or password","code":3}"#
    static let errorNoLeader = #"{"error":"etcdserver: no leader","message":"etcdserver: no leader","code":14}"#
    static let errorEmptyKey = #"{"error":"etcdserver: key is not provided","message":"etcdserver: key is not provided","code":3}"#

    /// The exact bytes etcd sent for `POST /v3/lease/revoke` of an unknown lease: chunked, with a trailer.
    static let revokeUnknownLeaseResponse =
        "HTTP/1.1 404 Not Found\r\nContent-Type: application/json\r\nTrailer: Grpc-Trailer-Content-Type\r\n"
        + "Date: Sun, 22 Nov 2026 00:26:02 GMT\r\nTransfer-Encoding: chunked\r\n\r\n"
        + "\(String(errorLeaseNotFound.utf8.count, radix: 16))\r\n\(errorLeaseNotFound)\r\n"
        + "0\r\nGrpc-Trailer-Content-Type: application/grpc\r\n\r\n"

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }
}
