/// One change to a watched key.
public struct WatchEvent: Sendable, Hashable {
    /// What kind of change.
    public enum Kind: Sendable, Hashable {
        /// The key was created or overwritten.
        case put
        /// The key was deleted (or its lease ended).
        case delete
    }

    /// What kind of change.
    public var kind: Kind
    /// The key after the change; for a delete, only the key and its `modRevision` (the delete's revision).
    public var keyValue: KeyValue
    /// The key before the change, when the watch asked for it.
    public var previous: KeyValue?

    /// The revision of the change.
    public var revision: Revision { keyValue.modRevision }

    init(wire: WireEvent) {
        kind = wire.type == "DELETE" ? .delete : .put
        keyValue = (wire.kv ?? WireKeyValue()).model
        previous = wire.prev_kv?.model
    }
}

/// How a watch starts and what it reports.
public struct WatchOptions: Sendable, Hashable {
    /// The first revision to report; `nil` starts after the current revision (only future changes).
    public var startRevision: Revision?
    /// Report each key's previous value too.
    public var includePrevious: Bool
    /// Kinds of change not to report.
    public var excluding: Set<WatchEvent.Kind>

    /// Watch options; by default only future changes, without previous values.
    public init(startRevision: Revision? = nil, includePrevious: Bool = false, excluding: Set<WatchEvent.Kind> = []) {
        self.startRevision = startRevision
        self.includePrevious = includePrevious
        self.excluding = excluding
    }
}
