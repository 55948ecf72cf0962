import SystemTLS

// The TLS handshake of `https` connections, between TCP connect and the first request byte.
// Loop thread only, like the rest of IOLoop.
extension IOLoop {
    /// Starts TLS on a freshly connected `https` connection, or starts sending on a plain one.
    func connectionEstablished(_ connection: Connection) {
        guard let tls = pools[connection.endpoint].tls else {
            connection.phase = .busy
            writeOutbound(connection)
            return
        }
        do {
            connection.tls = try tls.context.makeSession(descriptor: connection.descriptor, serverName: tls.serverName)
        } catch {
            abandon(connection, .tlsFailed, "\(error)")
            return
        }
        connection.phase = .handshaking
        continueHandshake(connection)
    }

    func continueHandshake(_ connection: Connection) {
        guard let session = connection.tls else { return }
        connection.tlsWait = nil
        switch session.handshake() {
        case .complete:
            connection.phase = .busy
            writeOutbound(connection)
        case .blocked(let wait):
            connection.tlsWait = wait
        case .failed(let failure):
            abandon(connection, .tlsFailed, "TLS with \(pools[connection.endpoint].hostHeader): \(failure)")
        case .connectionLost(let text):
            // A reset or a close under the handshake is the connection's failure, not TLS's: it
            // is retried (on this member or another) as any broken connection is.
            abandon(connection, .connectionClosed, "\(pools[connection.endpoint].hostHeader): \(text)")
        }
    }

    /// Ends a connection whose TLS could not start: its exchange, if it carries one, fails with
    /// `kind`; an idle one is just closed.
    private func abandon(_ connection: Connection, _ kind: TransportError.Kind, _ detail: String) {
        if let exchange = connection.exchange {
            finish(exchange, with: exchange.error(kind, detail))
        } else {
            close(connection, serveWaiting: true)
        }
    }
}
