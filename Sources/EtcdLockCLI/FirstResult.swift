/// Runs `operations` concurrently and returns the first non-`nil` result; the others are then
/// cancelled (and awaited). `nil` when every operation ended with `nil` (cancelled).
///
/// The shape of every supervising wait here: a command's exit against a lost lock against a
/// signal, a campaign against a signal.
func firstResult<Event: Sendable>(of operations: [@Sendable () async -> Event?]) async -> Event? {
    await withTaskGroup(of: Event?.self, returning: Event?.self) { group in
        for operation in operations { group.addTask { await operation() } }
        for await event in group {
            if let event {
                group.cancelAll()
                return event
            }
        }
        return nil
    }
}
