import EtcdLock
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes to standard output and standard error; only the CLI writes.
///
/// Everything printed passes through ``shown(_:limit:)``: names, values and server messages come
/// from other people, and raw control or bidirectional-override characters in them could rewrite
/// what the terminal shows.
enum Console {
    /// The longest line of a diagnostic; server messages (an HTML error page) are cut there.
    static let diagnosticLineLimit = 600

    static func out(_ text: String) {
        emit(shown(text) + "\n", to: STDOUT_FILENO)
    }

    static func error(_ text: String) {
        emit(shown(text, limit: diagnosticLineLimit) + "\n", to: STDERR_FILENO)
    }

    /// Writes all of `text`, giving up quietly when the descriptor is closed, full or a broken
    /// pipe (SIGPIPE is ignored): a reader that went away must not crash a lock holder, which
    /// still has to release.
    private static func emit(_ text: String, to descriptor: Int32) {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { return }
            bytes = bytes.dropFirst(written)
        }
    }

    /// A duration as seconds with millisecond precision: `2.500s` (`unit` follows the number).
    static func seconds(_ duration: Duration, unit: String = "s") -> String { QueueEntryRecord.secondsText(duration) + unit }

    /// One field of a line (a name, a value, an owner): like ``shown(_:limit:)``, with line
    /// breaks escaped too, so a value cannot forge lines of output.
    static func field(_ text: String) -> String {
        shown(text.replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\n", with: "\\n"))
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
