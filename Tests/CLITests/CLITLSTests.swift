import Etcd
import EtcdTestSupport
import Foundation
import Testing

@Suite("the etcdlock binary against a member that requires client certificates", .timeLimit(.minutes(2)))
struct CLITLSTests {
    @Test("lock takes its TLS settings from ETCDLOCK_CACERT/CERT/KEY; flags win over the environment")
    func tlsFromEnvironmentAndFlags() async throws {
        let cluster = try await TestEnvironment.tlsCluster()
        let tls = try #require(cluster.tls)
        let environment = [
            "ETCD_ENDPOINTS": cluster.endpoints.joined(separator: ","),
            "ETCDLOCK_CACERT": try #require(tls.caCertificatePath),
            "ETCDLOCK_CERT": try #require(tls.certificatePath),
            "ETCDLOCK_KEY": try #require(tls.privateKeyPath),
        ]
        let name = "cli-tls-\(UUID().uuidString.prefix(8))"
        let locked = try await CLIRunner.run(["lock", name, "--", "/bin/sh", "-c", "echo token=$ETCDLOCK_FENCING_TOKEN"], environment: environment)
        #expect(locked.status == 0, "\(locked.errors)")
        #expect(locked.output.hasPrefix("token="))

        // A flag overrides its variable: trusting another CA must fail verification (exit 69).
        let overridden = try await CLIRunner.run(["list", "--cacert", cluster.tlsFile("other-ca.pem")], environment: environment)
        #expect(overridden.status == 69)
        #expect(overridden.errors.contains("tls_failure"), "\(overridden.errors)")
        #expect(overridden.errors.contains("certificate verify failed"), "\(overridden.errors)")

        // Without the client certificate the member refuses the connection.
        var withoutCertificate = environment
        withoutCertificate["ETCDLOCK_CERT"] = nil
        withoutCertificate["ETCDLOCK_KEY"] = nil
        let refused = try await CLIRunner.run(["list"], environment: withoutCertificate)
        #expect(refused.status == 69)
        #expect(refused.errors.contains("tls_failure"), "\(refused.errors)")

        // An empty file name is a usage error, reported before any connection.
        let keyless = try await CLIRunner.run(["list", "--key", ""], environment: environment)
        #expect(keyless.status == 64)
    }
}
