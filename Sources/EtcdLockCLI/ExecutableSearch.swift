import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds a command the way a shell does, before any lock is taken: a missing command should not
/// cost anyone a turn at the lock.
enum ExecutableSearch {
    /// The path to run for `name` (bytes: paths need not be UTF-8): `name` itself when it
    /// contains a `/`, otherwise the first executable file called `name` in a directory of
    /// `PATH`; `nil` when there is none.
    static func find(_ name: [UInt8]) -> [UInt8]? {
        guard !name.isEmpty else { return nil }
        if name.contains(UInt8(ascii: "/")) { return name }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":", omittingEmptySubsequences: false) {
            let candidate = Array((directory.isEmpty ? "." : directory).utf8) + [UInt8(ascii: "/")] + name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    private static func isExecutableFile(_ path: [UInt8]) -> Bool {
        (path + [0]).withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { cPath in
                var status = stat()
                return access(cPath.baseAddress!, X_OK) == 0 && stat(cPath.baseAddress!, &status) == 0
                    && (status.st_mode & S_IFMT) == S_IFREG
            }
        }
    }
}

/// A signal's conventional name, for messages.
func signalName(_ number: Int32) -> String {
    switch number {
    case SIGINT: "SIGINT"
    case SIGTERM: "SIGTERM"
    case SIGHUP: "SIGHUP"
    case SIGKILL: "SIGKILL"
    default: "signal \(number)"
    }
}
