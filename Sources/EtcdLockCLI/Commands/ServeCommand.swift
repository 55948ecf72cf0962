import Etcd
import EtcdLock
import EtcdLockService
import Foundation
import SystemTLS

/// `etcdlock serve`: the HTTP lock API, a stateless replica over etcd.
struct ServeCommand: Command {
    static let name = "serve"
    static let abstract = "serve the HTTP lock API (stateless; run as many replicas as you like)"
    static let usage = """
        Usage: etcdlock serve [--listen HOST:PORT] [--tokens FILE] [--tls-cert FILE --tls-key FILE [--client-ca FILE]] [options]

        Serves the HTTP lock API (README: "The lock service") until SIGTERM, SIGINT or SIGHUP:
        then it stops accepting, ends waiting long-polls (their keys withdrawn, their leases
        revoked; they get 503 shutting_down), lets answers in flight finish and exits 0.
        Prints "listening on http://HOST:PORT" (https with --tls-cert) once it accepts connections.

        \(ConnectionOptions.help)
          --listen HOST:PORT   where to listen (default 127.0.0.1:8080; port 0 picks a free one)
          --tokens FILE        bearer tokens, one per line: TOKEN NAMESPACE client|admin.
                               Without it every caller is an admin of namespace "default":
                               listen on loopback only, unless --listen says otherwise.
          --request-timeout S  a request must arrive within S seconds of its first byte
                               (default 10); slower callers get 408 and are dropped
          --idle-timeout S     a connection may wait S seconds for its next (or first)
                               request before it is closed (default 30)
          --max-connections N  open connections at most (default 512); at the limit the
                               longest-idle one is closed for a newcomer, and only when
                               every connection has a request in flight is it answered 503
          --tls-cert FILE      serve HTTPS with this certificate (PEM, chain after it)
          --tls-key FILE       the certificate's private key (PEM); needed with --tls-cert
          --client-ca FILE     with HTTPS, require client certificates issued by these CAs

        Exit status: 0 stopped by a signal; 64 usage (a bad tokens file too, or TLS files that
        cannot be read or do not match); 69 cannot listen.
        """

    let connection: ConnectionOptions
    let host: String
    let port: Int
    let tokens: AccessTokens?
    let requestTimeout: Duration
    let idleTimeout: Duration
    let maximumConnections: Int
    let tls: HTTPServer.TLS?

    init(parsing arguments: inout Arguments) throws {
        connection = try ConnectionOptions(parsing: &arguments)
        let listen = try arguments.option("--listen") ?? "127.0.0.1:8080"
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]), (0...65535).contains(port)
        else { throw UsageError(description: "--listen needs HOST:PORT, not \(listen)") }
        var host = String(listen[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw UsageError(description: "--listen needs HOST:PORT, not \(listen)") }
        self.host = host
        self.port = port
        if let path = try arguments.option("--tokens") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw UsageError(description: "cannot read the tokens file \(path)")
            }
            do {
                tokens = try AccessTokens(parsing: text)
            } catch {
                throw UsageError(description: "tokens file \(path): \(error)")
            }
        } else {
            tokens = nil
        }
        requestTimeout = try parseSeconds(try arguments.option("--request-timeout") ?? "10", option: "--request-timeout", maximum: 3600)
        idleTimeout = try parseSeconds(try arguments.option("--idle-timeout") ?? "30", option: "--idle-timeout", maximum: 3600)
        let connections = try arguments.option("--max-connections") ?? "512"
        guard let maximum = Int(connections), maximum > 0, maximum <= 100_000 else {
            throw UsageError(description: "--max-connections must be from 1 to 100000, not \(connections)")
        }
        maximumConnections = maximum
        let certificate = try arguments.option("--tls-cert")
        let key = try arguments.option("--tls-key")
        let clientCA = try arguments.option("--client-ca")
        switch (certificate, key) {
        case (let certificate?, let key?):
            tls = HTTPServer.TLS(certificatePath: certificate, privateKeyPath: key, clientCAPath: clientCA)
        case (nil, nil):
            guard clientCA == nil else { throw UsageError(description: "--client-ca needs --tls-cert and --tls-key") }
            tls = nil
        default:
            throw UsageError(description: "--tls-cert and --tls-key go together")
        }
    }

    func run() async throws -> ExitStatus {
        let signals = TerminationSignals()
        if tokens == nil, !["127.0.0.1", "::1", "localhost"].contains(host) {
            Console.error("etcdlock serve: warning: no --tokens, and listening on \(host): anyone who reaches it is an admin")
        }
        return try await EtcdClient.withClient(connection.configuration) { client in
            let service = LockService(client: client, configuration: LockService.Configuration(tokens: tokens))
            var configuration = HTTPServer.Configuration(host: host, port: port)
            configuration.requestTimeout = requestTimeout
            configuration.idleTimeout = idleTimeout
            configuration.maximumConnections = maximumConnections
            configuration.tls = tls
            let server: HTTPServer
            do {
                server = try HTTPServer(configuration, handler: service.handle)
            } catch let error as TLSFailure {
                Console.error("etcdlock serve: TLS: \(error)")
                return .usage
            } catch {
                Console.error("etcdlock serve: \(error)")
                return .unavailable
            }
            let shown = host.contains(":") ? "[\(host)]" : host
            Console.out("listening on \(tls == nil ? "http" : "https")://\(shown):\(server.port)")
            let number = await signals.wait()
            Console.error("etcdlock serve: \(number.map(signalName) ?? "cancelled"); shutting down")
            await server.shutdown()
            return .success
        }
    }
}
