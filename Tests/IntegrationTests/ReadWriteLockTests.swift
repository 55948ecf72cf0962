import Etcd
import EtcdLock
import EtcdTestSupport
import Testing

@Suite("the read/write lock against a real etcd", .timeLimit(.minutes(2)))
struct ReadWriteLockTests {
    @Test("readers of different sessions hold at once; a writer waits for every reader, and its token is greater")
    func readersShareWritersWait() async throws {
        let namespace = recipeNamespace("rw-share")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { one in
                try await EtcdSession.withSession(client) { two in
                    try await EtcdSession.withSession(client) { three in
                        let first = try EtcdReadWriteLock("catalog", session: one, namespace: namespace)
                        let second = try EtcdReadWriteLock("catalog", session: two, namespace: namespace)
                        let writer = try EtcdReadWriteLock("catalog", session: three, namespace: namespace)
                        let read1 = try await first.read(timeout: .seconds(5))
                        let read2 = try await second.read(timeout: .seconds(5))
                        #expect(read1.mode == .read && read2.mode == .read)
                        #expect(try await first.holders().count == 2)
                        let wrote = Flag()
                        let writing = Task {
                            let lock = try await writer.write(timeout: .seconds(20))
                            wrote.set()
                            return lock
                        }
                        #expect(try await eventually(within: .seconds(10)) { try await queuedKeys(client, first.prefix).count == 3 })
                        try await first.unlock(read1)
                        // One reader still holds: the writer keeps waiting.
                        #expect(try await first.holders().map(\.token) == [read2.token])
                        #expect(!wrote.isSet)
                        try await second.unlock(read2)
                        let written = try await writing.value
                        #expect(written.mode == .write)
                        #expect(written.token > read1.token && written.token > read2.token)
                        #expect(try await first.holders().map(\.token) == [written.token])
                        try await writer.unlock(written)
                    }
                }
            }
        }
    }

    @Test("a waiting writer blocks later readers (no writer starvation); they read after it, with greater tokens")
    func writersDoNotStarve() async throws {
        let namespace = recipeNamespace("rw-fifo")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { one in
                try await EtcdSession.withSession(client) { two in
                    try await EtcdSession.withSession(client) { three in
                        let reader = try EtcdReadWriteLock("fifo", session: one, namespace: namespace)
                        let writer = try EtcdReadWriteLock("fifo", session: two, namespace: namespace)
                        let lateReader = try EtcdReadWriteLock("fifo", session: three, namespace: namespace)
                        let read = try await reader.read()
                        let writing = Task { try await writer.write(timeout: .seconds(20)) }
                        #expect(try await eventually(within: .seconds(10)) { try await queuedKeys(client, reader.prefix).count == 2 })
                        // A reader arriving now is behind the writer, though only a reader holds.
                        guard case .heldByOther = try await lateReader.tryRead() else {
                            Issue.record("a reader overtook a waiting writer")
                            return
                        }
                        let lateRead = Task { try await lateReader.read(timeout: .seconds(20)) }
                        #expect(try await eventually(within: .seconds(10)) { try await queuedKeys(client, reader.prefix).count == 3 })
                        try await reader.unlock(read)
                        let written = try await writing.value
                        #expect(try await reader.holders().map(\.token) == [written.token])
                        try await writer.unlock(written)
                        let second = try await lateRead.value
                        #expect(second.token > written.token)
                        try await lateReader.unlock(second)
                    }
                }
            }
        }
    }

    @Test("readers and writers of four sessions: writers never overlap anyone, readers do, fenced counter exact")
    func mixedContention() async throws {
        let namespace = recipeNamespace("rw-mixed")
        let counter: EtcdKey = "/test/\(namespace)/counter"
        let occupancy = Occupancy()
        let writes = 12
        try await TestEnvironment.withClient { client in
            try await withThrowingTaskGroup(of: Void.self) { group in
                for worker in 0..<4 {
                    group.addTask {
                        try await EtcdSession.withSession(client) { session in
                            let lock = try EtcdReadWriteLock("mixed", session: session, namespace: namespace)
                            for round in 0..<6 {
                                if (worker + round) % 2 == 0 {
                                    try await lock.withWriteLock(timeout: .seconds(30)) { writer in
                                        occupancy.enterWrite()
                                        defer { occupancy.leaveWrite() }
                                        let current = try await client.range(RangeRequest(.key(counter))).keyValues.first
                                        let next = (current.map { Int($0.valueString) ?? 0 } ?? 0) + 1
                                        try await lock.fenced(writer, Txn(then: [.put(counter, value: String(next).utf8)]))
                                    }
                                } else {
                                    try await lock.withReadLock(timeout: .seconds(30)) { _ in
                                        occupancy.enterRead()
                                        defer { occupancy.leaveRead() }
                                        _ = try await client.range(RangeRequest(.key(counter)))
                                    }
                                }
                            }
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(occupancy.violations.isEmpty, "\(occupancy.violations)")
            let final = try await client.range(RangeRequest(.key(counter))).keyValues.first?.valueString
            #expect(final == String(writes))
            _ = try await client.delete(.key(counter))
        }
    }

    @Test("reentrancy: a read inside a write scope runs under it; a write inside a read scope is would_deadlock; fenced needs a writer")
    func reentrancyAndFencing() async throws {
        let namespace = recipeNamespace("rw-reentrant")
        try await TestEnvironment.withClient { client in
            try await EtcdSession.withSession(client) { session in
                let lock = try EtcdReadWriteLock("nested", session: session, namespace: namespace)
                try await lock.withWriteLock { outer in
                    let inner = try await lock.withReadLock(reentrant: true) { $0 }
                    #expect(inner.token == outer.token)
                    await #expect { try await lock.read(timeout: .seconds(1)) } throws: {
                        ($0 as? LockError)?.code == .wouldDeadlock
                    }
                }
                try await lock.withReadLock { reader in
                    await #expect { try await lock.withWriteLock(reentrant: true) { _ in } } throws: {
                        ($0 as? LockError)?.code == .wouldDeadlock
                    }
                    await #expect { try await lock.fenced(reader, Txn(then: [])) } throws: {
                        ($0 as? LockError)?.code == .invalidArgument
                    }
                }
                #expect(try await queuedKeys(client, lock.prefix).isEmpty)
            }
        }
    }
}
