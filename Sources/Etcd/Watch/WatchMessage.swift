/// One decoded message of a watch stream.
enum WatchMessage {
    /// etcd created the watch at this store revision.
    case created(Revision)
    /// Changes, in revision order.
    case events([WatchEvent])
    /// Nothing changed up to this revision.
    case progress(Revision)
    /// etcd cancelled the watch or reported an error.
    case failed(EtcdError)

    /// Decodes one `{"result": …}` or `{"error": …}` line.
    init(line: [UInt8]) throws {
        let message = try WireCoding.decodeResponse(WireWatchStreamMessage.self, from: line, path: "/v3/watch")
        if let error = message.error {
            self = .failed(WireErrorMapping.error(grpcStatus: error.grpc_code, message: error.message ?? "watch error"))
            return
        }
        guard let result = message.result else {
            throw EtcdError(code: .invalidResponse, message: "a watch message had neither result nor error")
        }
        if result.canceled == true {
            let compactRevision = result.compact_revision.orZero
            if compactRevision > 0 {
                self = .failed(
                    EtcdError(
                        code: .compacted,
                        message: "the watch start revision was compacted; the oldest available is \(compactRevision)",
                        compactRevision: Revision(compactRevision)))
            } else {
                self = .failed(WireErrorMapping.watchCancellation(reason: result.cancel_reason ?? "no reason given"))
            }
            return
        }
        let revision = result.header.model.revision
        if result.created == true {
            self = .created(revision)
        } else if let events = result.events, !events.isEmpty {
            self = .events(events.map(WatchEvent.init(wire:)))
        } else {
            self = .progress(revision)
        }
    }
}
