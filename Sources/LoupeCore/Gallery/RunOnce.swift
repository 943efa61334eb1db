import Synchronization

/// Values computed once per key, however many threads ask at once: the
/// first computes while the others with the same key wait for its result;
/// other keys go on in parallel. A failed computation is not kept, so the
/// next caller tries again (and gets its own error).
final class RunOnce<Key: Hashable & Sendable, Value: Sendable>: Sendable {
    private final class Entry: Sendable {
        let value = Mutex<Value?>(nil)
    }

    private let entries = Mutex<[Key: Entry]>([:])

    /// The value for `key`, computing it with `compute` if no caller has.
    func value(for key: Key, _ compute: () throws -> Value) throws -> Value {
        let entry = entries.withLock { entries in
            if let e = entries[key] { return e }
            let e = Entry()
            entries[key] = e
            return e
        }
        return try entry.value.withLock { value in
            if let value { return value }
            let computed = try compute()
            value = computed
            return computed
        }
    }

    /// Forgets the values whose keys satisfy `condition` (their memory is
    /// freed once no caller holds them).
    func remove(where condition: (Key) -> Bool) {
        entries.withLock { entries in entries = entries.filter { !condition($0.key) } }
    }
}
