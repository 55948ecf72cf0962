import Foundation

/// The demo's HTTP scene: an `etcdlock serve` replica for the worker that is not written in Swift.
extension DemoCommand {
    /// Increments of the HTTP worker: a short scene beside the Swift workers' run.
    static let httpIncrements = 4

    /// Starts `etcdlock serve` on a loopback port the system picks (no tokens: namespace
    /// `default`, the Swift workers' own) and returns it with its URL, once it accepts connections.
    ///
    /// `nil` when it does not say where it listens within 15 s (it is stopped then).
    func startService() async -> (process: ChildProcess, url: String)? {
        let (announcements, sink) = AsyncStream.makeStream(of: String.self)
        let command = [Self.executable, "serve", "--listen", "127.0.0.1:0"] + connection.childArguments
        guard let service = try? ChildProcess(command: command, environment: [:], onOutputLine: { line in
            guard line.hasPrefix("listening on ") else { return }
            sink.yield(String(line.dropFirst("listening on ".count)))
        }) else { return nil }
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
            service.send(SIGTERM)
            _ = await service.wait()
            return nil
        }
        return (service, url)
    }
}
