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
        guard let service = await ServeProcess.start(port: 0, connection: connection.childArguments) else { return nil }
        return (service.process, service.url)
    }
}
