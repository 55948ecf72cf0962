import EtcdTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Starts `etcdlock serve` on a port the system picks and returns it with its base URL.
private func startServer(_ extra: [String] = []) async throws -> (RunningCommand, String) {
    let endpoints = try await TestEnvironment.endpoints().joined(separator: ",")
    let server = try CLIRunner.start(["serve", "--listen", "127.0.0.1:0", "--endpoints", endpoints] + extra)
    var url: String?
    let started = try await eventually(within: .seconds(10)) {
        url = server.output.split(separator: "\n").first { $0.hasPrefix("listening on ") }.map { String($0.dropFirst("listening on ".count)) }
        return url != nil || server.exitStatus != nil
    }
    guard started, let url else { throw TestEnvironmentError(description: "serve did not start: \(server.output)") }
    return (server, url)
}

@Suite("etcdlock serve, list and release --force", .timeLimit(.minutes(1)))
struct ServeCommandTests {
    @Test("the README's curl examples run against etcdlock serve, and list and release --force see the locks")
    func curlExamples() async throws {
        let (server, url) = try await startServer()
        let name = "invoices-\(UUID().uuidString.prefix(8))"
        let outcome = try await CLIRunner.runShell(
            "\"\(CLIRunner.repositoryRoot)/scripts/service-examples\" \(name)", environment: ["ETCDLOCK_SERVICE": url])
        #expect(outcome.status == 0, "\(outcome.output)\(outcome.errors)")
        let lines = outcome.output.split(separator: "\n")
        #expect(lines.first?.contains(#""owner":"billing-7""#) == true)
        #expect(lines.contains { $0.hasPrefix("409 ") && $0.contains(#""code":"held""#) })
        #expect(lines.contains { $0.hasPrefix("410 ") && $0.contains(#""code":"lost""#) })
        #expect(lines.contains { $0.contains(#"etcdlock_service_acquisitions_total{result="held"}"#) })
        #expect(lines.contains { $0.hasPrefix("200 ") && $0.contains(#""kind":"rwlock""#) && $0.contains(#""mode":"read""#) })
        #expect(lines.contains { $0.hasPrefix("409 ") && $0.contains(#""code":"permits_mismatch""#) })
        #expect(lines.contains { $0.hasPrefix("200 ") && $0.contains(#""holder":{"held_for_seconds":"#) }, "the inspection tells how long")
        #expect(lines.contains { $0.hasPrefix("200 ") && $0.contains(#""kind":"rwlock","locks":[{"#) && $0.contains(#""holders":2"#) })

        // Held through the service, listed and force-released by the CLI straight from etcd.
        let endpoints = try await TestEnvironment.endpoints().joined(separator: ",")
        let acquired = try await CLIRunner.runShell(
            "curl -sS -X POST '\(url)/v1/locks/\(name):acquire' -d '{\"ttl_seconds\": 10, \"owner\": \"cli-test\"}'")
        #expect(acquired.output.contains("token"))
        let listed = try await CLIRunner.run(["list", String(name.prefix(12)), "--endpoints", endpoints])
        #expect(listed.status == 0)
        #expect(listed.output.hasPrefix("\(name): held by cli-test, token "), "\(listed.output)")
        let refused = try await CLIRunner.run(["release", name, "--endpoints", endpoints])
        #expect(refused.status == 64)
        let wrong = try await CLIRunner.run(["release", name, "--force", "--token", "1", "--endpoints", endpoints])
        #expect(wrong.status == 1)
        let released = try await CLIRunner.run(["release", name, "--force", "--endpoints", endpoints])
        #expect(released.status == 0)
        #expect(released.output.hasPrefix("released \(name): token "), "\(released.output)")
        let free = try await CLIRunner.run(["release", name, "--force", "--endpoints", endpoints])
        #expect(free.output == "\(name): free; nothing released\n")

        // Read/write locks: two readers are listed as one lock; removing one needs its token.
        var readerTokens: [String] = []
        for owner in ["reader-1", "reader-2"] {
            let read = try await CLIRunner.runShell(
                "curl -sS -X POST '\(url)/v1/locks/\(name):acquire' -d '{\"mode\": \"read\", \"owner\": \"\(owner)\"}'")
            readerTokens.append(String(read.output.split(separator: #""token":"#).last?.prefix { $0.isNumber } ?? ""))
        }
        let readers = try await CLIRunner.run(["list", "--kind", "rwlock", String(name.prefix(12)), "--endpoints", endpoints])
        #expect(readers.output.hasPrefix("\(name): held for reading by reader-1 and 1 more, token \(readerTokens[0]), "), "\(readers.output)")
        #expect(readers.output.contains(", held for "), "\(readers.output)")
        let ambiguous = try await CLIRunner.run(["release", name, "--force", "--kind", "rwlock", "--endpoints", endpoints])
        #expect(ambiguous.status == 1)
        #expect(ambiguous.errors.contains("has 2 holders"), "\(ambiguous.errors)")
        for token in readerTokens.reversed() {
            let removed = try await CLIRunner.run(["release", name, "--force", "--kind", "rwlock", "--token", token, "--endpoints", endpoints])
            #expect(removed.output.hasPrefix("released \(name): token \(token), owner reader-"), "\(removed.output)\(removed.errors)")
        }
        server.send(SIGTERM)
        #expect(try await server.waitForExit(within: .seconds(10)) == 0)
    }

    @Test("serve --tls-cert --client-ca answers HTTPS only to clients with a certificate; a silent handshake is dropped; a bad key is a usage error")
    func https() async throws {
        let certificates = try await TestEnvironment.tlsCluster()
        let (server, url) = try await startServer([
            "--tls-cert", certificates.tlsFile("server.pem"), "--tls-key", certificates.tlsFile("server-key.pem"),
            "--client-ca", certificates.tlsFile("ca.pem"), "--request-timeout", "1",
        ])
        #expect(url.hasPrefix("https://127.0.0.1:"))
        let trust = "--cacert '\(certificates.tlsFile("ca.pem"))'"
        let identity = "--cert '\(certificates.tlsFile("client.pem"))' --key '\(certificates.tlsFile("client-key.pem"))'"
        let name = "https-\(UUID().uuidString.prefix(8))"
        let acquired = try await CLIRunner.runShell(
            "curl -sS \(trust) \(identity) -X POST '\(url)/v1/locks/\(name):acquire' -d '{\"ttl_seconds\": 5, \"wait_seconds\": 0}'")
        #expect(acquired.status == 0 && acquired.output.contains(#""token":"#), "\(acquired.output)\(acquired.errors)")
        let anonymous = try await CLIRunner.runShell("curl -sS \(trust) '\(url)/healthz'")
        #expect(anonymous.status != 0 && anonymous.output.isEmpty, "\(anonymous.output)")
        let plaintext = try await CLIRunner.runShell("curl -sS -m 5 '\(url.replacingOccurrences(of: "https://", with: "http://"))/healthz'")
        #expect(plaintext.status != 0 && plaintext.output.isEmpty, "\(plaintext.output)")
        // A caller that connects and never starts the handshake is dropped after --request-timeout.
        let port = url.split(separator: ":").last.map(String.init) ?? ""
        let (silent, elapsed) = try await measure {
            try await CLIRunner.runShell("timeout 10 bash -c 'exec 3<>/dev/tcp/127.0.0.1/\(port); cat <&3'")
        }
        #expect(silent.status == 0 && elapsed < .seconds(5), "\(silent.status) after \(elapsed)")
        server.send(SIGTERM)
        #expect(try await server.waitForExit(within: .seconds(10)) == 0)

        let mismatched = try await CLIRunner.run([
            "serve", "--listen", "127.0.0.1:0", "--tls-cert", certificates.tlsFile("server.pem"),
            "--tls-key", certificates.tlsFile("client-key.pem"),
        ])
        #expect(mismatched.status == 64)
        #expect(mismatched.errors.contains("mismatch"), "\(mismatched.errors)")
    }

    @Test("HTTPS at the connection limit: callers that never finish a handshake are closed for a newcomer, which is served")
    func silentHandshakesCannotLockCallersOut() async throws {
        let certificates = try await TestEnvironment.tlsCluster()
        let (server, url) = try await startServer([
            "--tls-cert", certificates.tlsFile("server.pem"), "--tls-key", certificates.tlsFile("server-key.pem"),
            "--max-connections", "3", "--request-timeout", "60",
        ])
        let port = url.split(separator: ":").last.map(String.init) ?? ""
        // Five silent connections (more than the limit), silent for 1.5 s (a connection is closed
        // for a newcomer only after a second of silence), then a real caller.
        let script = [
            "for i in 1 2 3 4 5; do exec {fd}<>/dev/tcp/127.0.0.1/\(port); done",
            "sleep 1.5",
            "curl -sS -m 20 --cacert \"\(certificates.tlsFile("ca.pem"))\" \"\(url)/metrics\" | head -c 100",
        ].joined(separator: "; ")
        let outcome = try await CLIRunner.runShell("bash -c '\(script)'")
        #expect(outcome.output.contains("etcdlock_service"), "\(outcome.output)\(outcome.errors)")
        server.send(SIGTERM)
        #expect(try await server.waitForExit(within: .seconds(10)) == 0)
    }

    @Test("SIGTERM ends a waiting long-poll with 503, withdraws its key, and serve exits 0")
    func gracefulShutdown() async throws {
        let (server, url) = try await startServer()
        let endpoints = try await TestEnvironment.endpoints().joined(separator: ",")
        let name = "drain-\(UUID().uuidString.prefix(8))"
        // A TTL long enough that the holder is still there at the end, on a loaded machine.
        let holder = try await CLIRunner.runShell("curl -sS -X POST '\(url)/v1/locks/\(name):acquire' -d '{\"ttl_seconds\": 60}'")
        #expect(holder.output.contains("token"))
        let waiter = try CLIRunner.startProgram(
            "/bin/sh", ["-c", "curl -sS -w ' %{http_code}' -X POST '\(url)/v1/locks/\(name):acquire' -d '{\"ttl_seconds\": 5, \"wait_seconds\": 30}'"])
        #expect(try await eventually(within: .seconds(5)) {
            try await CLIRunner.run(["list", name, "--endpoints", endpoints]).output.contains("1 waiting")
        })
        server.send(SIGTERM)
        #expect(try await server.waitForExit(within: .seconds(10)) == 0)
        #expect(try await waiter.waitForExit(within: .seconds(5)) == 0)
        #expect(waiter.output.contains("shutting_down"))
        #expect(waiter.output.hasSuffix(" 503"))
        // Only the holder's key is left (its caller renews it, or it expires): the waiter's is gone.
        #expect(try await CLIRunner.run(["list", name, "--endpoints", endpoints]).output.contains("0 waiting"))
        _ = try await CLIRunner.run(["release", name, "--force", "--endpoints", endpoints])
    }
}
