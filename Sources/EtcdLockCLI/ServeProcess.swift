import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An `etcdlock serve` replica this process starts for its own use (the demo's HTTP scene, the
/// verifier's replicas), once it accepts connections.
struct ServeProcess: Sendable {
    /// The replica's process.
    let process: ChildProcess
    /// Where it listens, from its "listening on" line (`http://127.0.0.1:PORT`).
    let url: String
    /// The port of ``url``.
    var port: Int { url.split(separator: ":").last.flatMap { Int($0) } ?? 0 }

    /// Starts this program's `serve` on 127.0.0.1:`port` (0: a free one) with `connection`'s
    /// options, and waits up to 15 s for its "listening on" line; `nil` when it does not say
    /// where it listens in time (it is killed then) or cannot be started.
    static func start(port: Int, connection: [String]) async -> ServeProcess? {
        let executable = Bundle.main.executablePath ?? CommandLine.arguments[0]
        let (announcements, sink) = AsyncStream.makeStream(of: String.self)
        guard
            let process = try? ChildProcess(
                command: [executable, "serve", "--listen", "127.0.0.1:\(port)"] + connection, environment: [:],
                onOutputLine: { line in
                    guard line.hasPrefix("listening on ") else { return }
                    sink.yield(String(line.dropFirst("listening on ".count)))
                })
        else { return nil }
        let url = await withTaskGroup(of: String?.self) { group in
            group.addTask { await announcements.first { _ in true } }
            group.addTask {
                try? await Task.sleep(for: .seconds(15))
                return nil
            }
            defer { group.cancelAll() }
            return await group.next() ?? nil
        }
        sink.finish()
        guard let url else {
            process.send(SIGKILL)
            _ = await process.wait()
            return nil
        }
        return ServeProcess(process: process, url: url)
    }
}
