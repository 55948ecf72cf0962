import Etcd
import EtcdTestSupport
import Foundation
import Testing

@Suite("the etcdlock binary under etcd RBAC: one role per namespace", .timeLimit(.minutes(2)))
struct CLIRBACTests {
    @Test("as A's user, lock/inspect/list/release --force of B's lock exit 77 (permission denied); B's holder is untouched")
    func namespaceIsolation() async throws {
        try await EtcdCluster.withCluster(members: 1, auth: true) { cluster in
            let tenants = try await Tenants.create(cluster)
            let endpoints = cluster.endpoints.joined(separator: ",")
            let bob = ["ETCD_ENDPOINTS": endpoints, "ETCDLOCK_USER": tenants.userOption("bob")]
            let alice = ["ETCD_ENDPOINTS": endpoints, "ETCDLOCK_USER": tenants.userOption("alice")]
            let namespace = ["--namespace", tenants.namespaceB]

            // Bob holds B's lock while alice tries everything; the holder prints its token, then waits.
            let holder = try CLIRunner.start(
                ["lock", "payments"] + namespace + ["--", "/bin/sh", "-c", "echo held=$ETCDLOCK_FENCING_TOKEN; exec sleep 60"],
                environment: bob)
            #expect(try await eventually(within: .seconds(15)) { holder.output.contains("held=") }, "\(holder.output)")
            let before = try await tenants.namespaceBState()
            #expect(!before.isEmpty)

            let attempts: [[String]] = [
                ["lock", "payments"] + namespace + ["--try", "--", "true"],
                ["lock", "payments"] + namespace + ["--timeout", "3", "--", "true"],
                ["inspect", "payments"] + namespace,
                ["list"] + namespace,
                ["release", "payments", "--force"] + namespace,
            ]
            for arguments in attempts {
                let outcome = try await CLIRunner.run(arguments, environment: alice)
                #expect(outcome.status == 77, "\(arguments.joined(separator: " ")): \(outcome.status) \(outcome.errors)")
                #expect(outcome.errors.contains("permission_denied"), "\(arguments.joined(separator: " ")): \(outcome.errors)")
            }
            // A wrong password is refused access too (77), never the 1 of a lost lock.
            let wrong = try await CLIRunner.run(
                ["lock", "payments", "--namespace", tenants.namespaceA, "--try", "--", "true"],
                environment: ["ETCD_ENDPOINTS": endpoints, "ETCDLOCK_USER": "alice:not-her-password"])
            #expect(wrong.status == 77, "\(wrong.status) \(wrong.errors)")
            // Her own namespace works with the same credentials.
            let own = try await CLIRunner.run(["lock", "payments", "--namespace", tenants.namespaceA, "--try", "--", "true"], environment: alice)
            #expect(own.status == 0, "\(own.errors)")

            #expect(try await tenants.namespaceBState() == before)
            #expect(holder.exitStatus == nil)
            holder.send(SIGTERM)
            _ = try await holder.waitForExit(within: .seconds(10))
        }
    }
}
