import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The `etcdlock serve` replicas of `etcdlock verify --via-service`: started on free loopback
/// ports, killed, paused and restarted (on the same port) by the nemesis, stopped at the end.
actor ServiceReplicaSet {
    private struct Replica {
        var port: Int
        var process: ChildProcess?
        var paused = false
    }

    private let endpoints: [String]
    private var replicas: [Replica] = []
    private var stopping = false
    /// Lines the replicas printed that were not their "listening on" line, for the report.
    private(set) var problems: [String] = []

    /// Starts `count` replicas serving the cluster at `endpoints`, each once it says it listens.
    init(count: Int, endpoints: [String]) async throws {
        self.endpoints = endpoints
        for _ in 0..<count {
            let (process, port) = try await Self.launch(port: 0, endpoints: endpoints)
            replicas.append(Replica(port: port, process: process))
        }
    }

    /// The replicas' URLs, in order.
    var urls: [String] { replicas.map { "http://127.0.0.1:\($0.port)" } }

    /// Starts one replica on `port` (0: a free one) and waits (up to 15 s) for its
    /// "listening on" line; the process and the port it listens on.
    private static func launch(port: Int, endpoints: [String]) async throws -> (ChildProcess, Int) {
        guard let replica = await ServeProcess.start(port: port, connection: ["--endpoints", endpoints.joined(separator: ",")]) else {
            throw UsageError(description: "an etcdlock serve replica did not start listening within 15 s")
        }
        return (replica.process, replica.port)
    }

    /// SIGKILLs replica `index`; `false` if it is not running or paused.
    func kill(_ index: Int) async -> Bool {
        guard !stopping, let process = replicas[index].process, !replicas[index].paused else { return false }
        process.send(SIGKILL)
        _ = await process.wait()
        replicas[index].process = nil
        return true
    }

    /// Starts replica `index` again on its port; whether it listens.
    func restart(_ index: Int) async -> Bool {
        guard !stopping, replicas[index].process == nil else { return false }
        do {
            let (process, _) = try await Self.launch(port: replicas[index].port, endpoints: endpoints)
            replicas[index].process = process
            return true
        } catch {
            problems.append("replica \(index) did not restart on port \(replicas[index].port): \(error)")
            return false
        }
    }

    /// SIGSTOPs replica `index`; `false` if it is not running or already paused.
    func pause(_ index: Int) -> Bool {
        guard !stopping, let process = replicas[index].process, !replicas[index].paused else { return false }
        replicas[index].paused = true
        process.send(SIGSTOP)
        return true
    }

    /// SIGCONTs replica `index` after ``pause(_:)``.
    func resume(_ index: Int) {
        guard replicas[index].paused else { return }
        replicas[index].paused = false
        replicas[index].process?.send(SIGCONT)
    }

    /// Stops every replica (SIGTERM: a graceful shutdown, which withdraws the waiters it
    /// still has), SIGKILL after 10 s, and waits for each.
    func stopAll() async {
        stopping = true
        for index in replicas.indices {
            guard let process = replicas[index].process else { continue }
            if replicas[index].paused { process.send(SIGCONT) }
            process.send(SIGTERM)
        }
        for index in replicas.indices {
            guard let process = replicas[index].process else { continue }
            let exited = await withTaskGroup(of: Bool.self) { group in
                group.addTask { _ = await process.wait(); return true }
                group.addTask {
                    try? await Task.sleep(for: .seconds(10))
                    return false
                }
                defer { group.cancelAll() }
                return await group.next() ?? false
            }
            if !exited {
                problems.append("replica \(index) did not exit within 10 s of SIGTERM (killed)")
                process.send(SIGKILL)
                _ = await process.wait()
            }
            replicas[index].process = nil
        }
    }
}
