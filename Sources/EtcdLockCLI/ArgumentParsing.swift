/// A usage error: printed with the command's usage line, exit status 64.
struct UsageError: Error, CustomStringConvertible {
    let description: String
}

/// The arguments of one subcommand, consumed by name as the command parses them.
///
/// Options take `--name value` or `--name=value`; `--` ends options and keeps the rest verbatim.
struct Arguments {
    private var remaining: [String]
    /// Everything after `--`.
    private(set) var trailing: [String] = []

    init(_ arguments: [String]) {
        if let separator = arguments.firstIndex(of: "--") {
            remaining = Array(arguments[..<separator])
            trailing = Array(arguments[(separator + 1)...])
        } else {
            remaining = arguments
        }
    }

    /// Whether `--help` or `-h` was given.
    var wantsHelp: Bool { remaining.contains("--help") || remaining.contains("-h") }

    /// Removes and returns the value of `--name`, if present.
    mutating func option(_ name: String) throws -> String? {
        for (index, argument) in remaining.enumerated() {
            if argument == name {
                guard index + 1 < remaining.count else { throw UsageError(description: "\(name) needs a value") }
                let value = remaining[index + 1]
                remaining.removeSubrange(index...(index + 1))
                return value
            }
            if argument.hasPrefix(name + "=") {
                remaining.remove(at: index)
                return String(argument.dropFirst(name.count + 1))
            }
        }
        return nil
    }

    /// Removes `--name` and returns whether it was present.
    mutating func flag(_ name: String) -> Bool {
        guard let index = remaining.firstIndex(of: name) else { return false }
        remaining.remove(at: index)
        return true
    }

    /// Removes and returns the next positional argument.
    mutating func positional(_ what: String) throws -> String {
        guard let index = remaining.firstIndex(where: { !$0.hasPrefix("--") }) else {
            throw UsageError(description: "missing \(what)")
        }
        return remaining.remove(at: index)
    }

    /// Fails if anything was not consumed.
    func finish() throws {
        if let first = remaining.first { throw UsageError(description: "unexpected argument: \(first)") }
    }
}

/// Parses a number of seconds (`2`, `0.5`) into a duration.
func parseSeconds(_ text: String, option: String) throws -> Duration {
    guard let seconds = Double(text), seconds.isFinite, seconds > 0 else {
        throw UsageError(description: "\(option) must be a positive number of seconds, not \(text)")
    }
    return .milliseconds(Int64((seconds * 1000).rounded(.up)))
}
