import Foundation

/// Writes to standard output and standard error; only the CLI writes.
///
/// Everything printed passes through ``shown(_:limit:)``: names, values and server messages come
/// from other people, and raw control or bidirectional-override characters in them could rewrite
/// what the terminal shows.
enum Console {
    /// The longest line of a diagnostic; server messages (an HTML error page) are cut there.
    static let diagnosticLineLimit = 600

    static func out(_ text: String) {
        FileHandle.standardOutput.write(Data((shown(text) + "\n").utf8))
    }

    static func error(_ text: String) {
        FileHandle.standardError.write(Data((shown(text, limit: diagnosticLineLimit) + "\n").utf8))
    }

    /// `text` with control and bidirectional-formatting characters escaped as `\u{…}` (newlines
    /// and tabs kept), each line cut after `limit` characters.
    static func shown(_ text: String, limit: Int? = nil) -> String {
        text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            var escaped = ""
            var count = 0
            for scalar in line.unicodeScalars {
                if let limit, count >= limit {
                    escaped += "…(cut)"
                    break
                }
                count += 1
                if scalar == "\t" || !isUnsafe(scalar) {
                    escaped.unicodeScalars.append(scalar)
                } else {
                    escaped += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
                }
            }
            return escaped
        }.joined(separator: "\n")
    }

    /// C0 and C1 controls, DEL, and the characters that reorder or hide text (bidi overrides,
    /// isolates and marks; zero-width joiners are harmless and kept).
    static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x1F, 0x7F...0x9F: return true
        case 0x200E, 0x200F, 0x202A...0x202E, 0x2066...0x2069, 0x061C: return true
        default: return false
        }
    }
}
