import Foundation

/// A usage error: printed with the command's usage line, exit status 64.
struct UsageError: Error, CustomStringConvertible {
    let description: String
}

/// One command-line argument: its bytes as given, and its text when they are valid UTF-8.
struct CommandLineArgument: Sendable, Equatable {
    /// The bytes the kernel passed, without the terminating NUL.
    let bytes: [UInt8]
    /// The argument as text, or `nil` when its bytes are not valid UTF-8.
    let text: String?

    init(cString: UnsafePointer<CChar>) {
        self.init(bytes: UnsafeBufferPointer(start: cString, count: strlen(cString)).map { UInt8(bitPattern: $0) })
    }

    init(bytes: [UInt8]) {
        self.bytes = bytes
        text = String(validating: bytes, as: UTF8.self)
    }

    init(_ text: String) {
        bytes = Array(text.utf8)
        self.text = text
    }

    /// The text, with invalid bytes shown as `\xNN` (for messages only).
    var shown: String {
        if let text { return text }
        var shown = ""
        for byte in bytes {
            shown += byte < 0x80 ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16, uppercase: true)
        }
        return shown
    }
}

/// The arguments of one subcommand, consumed by name as the command parses them.
///
/// Options take `--name value` or `--name=value`; `--` ends options and keeps the rest verbatim,
/// as bytes (a command's arguments need not be UTF-8). Every option value and positional
/// argument must be valid UTF-8: invalid bytes would be repaired into U+FFFD, and two different
/// names could then become one lock.
struct Arguments {
    private var remaining: [CommandLineArgument]
    /// Everything after `--`, byte for byte.
    private(set) var trailing: [CommandLineArgument] = []

    init(_ arguments: [CommandLineArgument]) {
        if let separator = arguments.firstIndex(of: CommandLineArgument("--")) {
            remaining = Array(arguments[..<separator])
            trailing = Array(arguments[(separator + 1)...])
        } else {
            remaining = arguments
        }
    }

    init(_ arguments: [String]) { self.init(arguments.map(CommandLineArgument.init)) }

    /// Whether `--help` or `-h` was given.
    var wantsHelp: Bool { remaining.contains { $0.text == "--help" || $0.text == "-h" } }

    /// Removes and returns the value of `--name`, if present.
    mutating func option(_ name: String) throws -> String? {
        for (index, argument) in remaining.enumerated() {
            if argument.text == name {
                guard index + 1 < remaining.count else { throw UsageError(description: "\(name) needs a value") }
                let value = remaining[index + 1]
                remaining.removeSubrange(index...(index + 1))
                return try Self.text(of: value, what: name)
            }
            if argument.bytes.starts(with: Array((name + "=").utf8)) {
                remaining.remove(at: index)
                return try Self.text(of: CommandLineArgument(bytes: Array(argument.bytes.dropFirst(name.utf8.count + 1))), what: name)
            }
        }
        return nil
    }

    /// Removes `--name` and returns whether it was present.
    mutating func flag(_ name: String) -> Bool {
        guard let index = remaining.firstIndex(where: { $0.text == name }) else { return false }
        remaining.remove(at: index)
        return true
    }

    /// Removes and returns the next positional argument.
    mutating func positional(_ what: String) throws -> String {
        guard let index = remaining.firstIndex(where: { !$0.bytes.starts(with: Array("--".utf8)) }) else {
            throw UsageError(description: "missing \(what)")
        }
        return try Self.text(of: remaining.remove(at: index), what: what)
    }

    /// Fails if anything was not consumed.
    func finish() throws {
        if let first = remaining.first { throw UsageError(description: "unexpected argument: \(first.shown)") }
    }

    private static func text(of argument: CommandLineArgument, what: String) throws -> String {
        guard let text = argument.text else {
            throw UsageError(description: "\(what) is not valid UTF-8: \(argument.shown)")
        }
        return text
    }
}

/// Parses a number of seconds (`2`, `0.5`) into a duration of at most `maximum` seconds.
///
/// The default maximum, ten years, keeps every deadline computed from the value far inside
/// what clocks and sleeps can represent.
func parseSeconds(_ text: String, option: String, maximum: Double = 10 * 365 * 24 * 3600) throws -> Duration {
    guard let seconds = Double(text), seconds.isFinite, seconds > 0 else {
        throw UsageError(description: "\(option) must be a positive number of seconds, not \(text)")
    }
    guard seconds <= maximum else {
        throw UsageError(description: "\(option) must be at most \(Int(maximum)) seconds, not \(text)")
    }
    return .milliseconds(Int64((seconds * 1000).rounded(.up)))
}
