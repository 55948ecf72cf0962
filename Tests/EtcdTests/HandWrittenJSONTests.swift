import Foundation
import Testing

@testable import Etcd

/// The JSON both coders produce for `value`, as Foundation objects, to compare field by field.
private func object(_ bytes: [UInt8]) throws -> NSDictionary {
    try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
}

@Suite("hand-written JSON for the hot wire types", .timeLimit(.minutes(1)))
struct HandWrittenJSONTests {
    @Test("a txn with every compare, operation and option is written as JSONEncoder writes it")
    func txnRequest() throws {
        var range = RangeRequest(
            .prefix("/q/"), limit: 3, revision: 9, sort: .init(.createRevision, .descending), consistency: .serializable,
            keysOnly: true, countOnly: false)
        range.maxCreateRevision = 41
        let nested = Txn(if: [.value(of: "v", .notEqual, [0, 255, 34])], then: [.delete(.prefix("/d/"), returnPrevious: true)])
        let txn = Txn(
            if: [
                .createRevision(of: "/a", .equal, .zero), .modRevision(of: "/b", .less, 7), .version(of: "/c", .greater, 2),
                .lease(of: "/d", .equal, LeaseID(0x7f)), Txn.Compare(.prefix("/q/"), .createRevision(.zero), .equal),
            ],
            then: [.put("/k\u{e9}\"\\", value: [1, 2, 3], lease: LeaseID(5)), .range(range), .txn(nested)],
            else: [.range(RangeRequest(.key("/x")))])
        let wire = txn.wire
        let handWritten = try WireCoding.encode(wire)
        let foundation = Array(try JSONEncoder().encode(wire))
        #expect(try object(handWritten) == object(foundation))
    }

    @Test("answers with escapes, nulls, numbers and nesting read as JSONDecoder reads them")
    func txnResponse() throws {
        let text = #"""
            {"header":{"cluster_id":"14841639068965178418","member_id":"10276657743932975437","revision":"42","raft_term":"3"},
             "succeeded":true,"responses":[
              {"response_put":{"header":{"revision":"42"}}},
              {"response_range":{"header":{},"kvs":[{"key":"L3EvYQ==","create_revision":"40","mod_revision":41,"version":"2","value":"AP8i","lease":"127"}],"count":"1","more":null}},
              {"response_txn":{"header":{"revision":"42"},"responses":[{"response_delete_range":{"deleted":"2","prev_kvs":[{"key":"L2Q="}]}}]}}
             ]}
            """#
        let bytes = Array(text.utf8)
        let fast = try WireCoding.decode(WireTxnResponse.self, from: bytes)
        let foundation = try JSONDecoder().decode(WireTxnResponse.self, from: Data(bytes))
        #expect(try TxnResult(wire: fast) == TxnResult(wire: foundation))
        let result = try TxnResult(wire: fast)
        #expect(result.header.revision == 42 && result.succeeded && result.responses.count == 3)
    }

    @Test("lease grants and revocations are written and read as Foundation's coders do")
    func leases() throws {
        for request in [WireLeaseGrantRequest(TTL: WireInt64(10), ID: WireInt64(0x1234_5678_9abc)), WireLeaseGrantRequest(TTL: WireInt64(3))] {
            #expect(try object(WireCoding.encode(request)) == object(Array(JSONEncoder().encode(request))))
        }
        let granted = Array(#"{"header":{"revision":"7","raft_term":"2"},"ID":"20015998343868","TTL":"10","error":""}"#.utf8)
        let fast = try WireCoding.decode(WireLeaseGrantResponse.self, from: granted)
        let foundation = try JSONDecoder().decode(WireLeaseGrantResponse.self, from: Data(granted))
        #expect(fast.ID == foundation.ID && fast.TTL == foundation.TTL && fast.error == foundation.error)
        #expect(fast.ID?.value == 20_015_998_343_868 && fast.header?.revision?.value == 7)
        let revoked = Array(#"{"header":{"cluster_id":"1","revision":"9"}}"#.utf8)
        #expect(try WireCoding.decode(WireLeaseRevokeResponse.self, from: revoked).header?.revision?.value == 9)
        #expect(throws: (any Error).self) { try WireCoding.decode(WireLeaseGrantResponse.self, from: Array(#"{"ID":"x1"}"#.utf8)) }
    }

    @Test("strict parsing holds a document to RFC 8259; etcd's answers are read as before")
    func strict() throws {
        for text in ["010", "+1", "1.", ".5", "1e", "-", "1.5e+", "\"a\tb\"", #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#] {
            #expect(throws: JSONReadError.self, "\(text)") { try JSONParser.parse(Array(text.utf8), strict: true) }
        }
        #expect(throws: JSONReadError.self) { try JSONParser.parse([0x22, 0xFF, 0x22], strict: true) }
        for text in ["0", "-0", "10", "-12.5e-3", "1E9", #""\ud83d\ude00""#, #"{"a":[1,{"b":null}]}"#] {
            #expect(throws: Never.self, "\(text)") { try JSONParser.parse(Array(text.utf8), strict: true) }
        }
        // Lenient, as etcd's answers are read: the same texts pass (numbers are taken as they come).
        #expect(throws: Never.self) { try JSONParser.parse(Array("010".utf8)) }
    }

    @Test("malformed answers are errors, never crashes", arguments: [
        #"{"header":"#, #"{"a":1}x"#, #"{"kvs":[{"key":"not base64!"}]}"#, #"{"kvs":[{"create_revision":"12x"}]}"#,
        #"{"more":"yes"}"#, #"["#, "", #"{"a":"\u12"}"#, String(repeating: "[", count: 100) + String(repeating: "]", count: 100),
    ])
    func malformed(text: String) {
        #expect(throws: (any Error).self) { try WireCoding.decode(WireRangeResponse.self, from: Array(text.utf8)) }
    }

    @Test("strings decode escapes and surrogate pairs")
    func escapes() throws {
        let value = try JSONParser.parse(Array(#"{"m":"a\"b\\c\/d\n\u00e9\ud83d\ude00"}"#.utf8))
        #expect(try value["m"]?.text() == "a\"b\\c/d\n\u{e9}\u{1F600}")
    }

    @Test("base64 matches Foundation's for every length and rejects bad text")
    func base64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            var encoded: [UInt8] = []
            Base64.encode(bytes, into: &encoded)
            #expect(String(decoding: encoded, as: UTF8.self) == Data(bytes).base64EncodedString())
            #expect(Base64.decode(encoded) == bytes)
        }
        for bad in ["abc", "a=bc", "ab=c", "====", "ab\u{0}d"] {
            #expect(Base64.decode(Array(bad.utf8)) == nil, "\(bad)")
        }
    }
}
