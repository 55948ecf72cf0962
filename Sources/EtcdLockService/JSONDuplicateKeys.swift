import Foundation

/// Finds a key that appears twice in one JSON object, which `JSONSerialization` would accept
/// silently (keeping the last value): a body that says two things about one field is ambiguous,
/// and two parsers may disagree about which one counts.
enum JSONDuplicateKeys {
    /// The first key that repeats within one object of `json`, compared after unescaping
    /// (`"a"` and `"\u0061"` are the same key); `nil` when there is none.
    ///
    /// - Precondition: `json` is valid JSON (checked by the caller's parser first): this scanner
    ///   follows only strings and object/array nesting.
    static func first(in json: [UInt8]) -> String? {
        // Per open container: the keys seen so far (objects), or nil (arrays).
        var containers: [Set<String>?] = []
        var expectsKey = false
        var index = 0
        while index < json.count {
            switch json[index] {
            case UInt8(ascii: "{"):
                containers.append([])
                expectsKey = true
            case UInt8(ascii: "["):
                containers.append(nil)
                expectsKey = false
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                _ = containers.popLast()
                expectsKey = false
            case UInt8(ascii: ","):
                expectsKey = containers.last.map { $0 != nil } ?? false
            case UInt8(ascii: "\""):
                let end = stringEnd(json, from: index)
                if expectsKey, var keys = containers.last ?? nil {
                    let key = decodedString(json[index...end])
                    if keys.contains(key) { return key }
                    keys.insert(key)
                    containers[containers.count - 1] = keys
                    expectsKey = false
                }
                index = end
            default:
                break
            }
            index += 1
        }
        return nil
    }

    /// The index of the quote closing the string that opens at `start`.
    private static func stringEnd(_ json: [UInt8], from start: Int) -> Int {
        var index = start + 1
        while index < json.count, json[index] != UInt8(ascii: "\"") {
            index += json[index] == UInt8(ascii: "\\") ? 2 : 1
        }
        return min(index, json.count - 1)
    }

    /// A string token's text with its escapes resolved.
    private static func decodedString(_ token: ArraySlice<UInt8>) -> String {
        guard token.contains(UInt8(ascii: "\\")) else { return String(decoding: token.dropFirst().dropLast(), as: UTF8.self) }
        let array = Data([UInt8(ascii: "[")] + token + [UInt8(ascii: "]")])
        return ((try? JSONSerialization.jsonObject(with: array)) as? [String])?.first ?? String(decoding: token, as: UTF8.self)
    }
}
