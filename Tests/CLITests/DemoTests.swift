import EtcdTestSupport
import Testing

@Suite("the demo's invariants under faults", .serialized, .timeLimit(.minutes(3)))
struct DemoTests {
    @Test(
        "worker processes under a frozen holder and a killed member: counter exact, stale writes rejected (plain with a Python worker through etcdlock serve, then mutual TLS)",
        arguments: [false, true])
    func demoVerdict(tls: Bool) async throws {
        try await EtcdCluster.withCluster(members: 3, tls: tls) { cluster in
            // The Python worker speaks plain HTTP to etcd's gateway: its scene is the plain run's.
            let httpWorker = tls ? [] : ["--http-worker", "scripts/lib/demo_http_worker.py"]
            let result = try await CLIRunner.run(
                ["demo", "--endpoints", cluster.endpoints.joined(separator: ","), "--cluster-dir", cluster.directory,
                 "--workers", "3", "--increments", "8"] + cluster.tlsOptions + httpWorker,
                environment: [:], workingDirectory: CLIRunner.repositoryRoot)
            #expect(cluster.endpoints.allSatisfy { $0.hasPrefix(tls ? "https://" : "http://") })
            #expect(result.status == 0, "\(result.output)\(result.errors)")
            if !tls {
                #expect(result.output.contains("scene: worker 3 is scripts/lib/demo_http_worker.py"))
                #expect(result.output.contains("HTTP worker: 4 of the acknowledged increments"))
            }
            #expect(result.output.contains("fault: froze worker"))
            #expect(result.output.contains("fault: killing etcd member 1"))
            #expect(result.output.contains("etcd rejected it"))
            #expect(result.output.contains("the external resource rejected it"))
            #expect(result.output.contains("verdict: PASS"))
            #expect(result.output.contains("stale writes accepted: 0"))
        }
    }
}
