import LockstatCore

/// Which contentions count, as perf lock contention's -Y, -L and -S choose them: by lock type
/// (`mutex`, `rwsem:W`, or a family such as `rwsem` for both sides), by lock (its name as the
/// tables print it, or its address), by a substring of a function name in the call stack. Each
/// list given must match (any of its entries); an empty list matches everything.
struct ContentionFilter: Equatable {
    var types: [String] = []
    var locks: [String] = []
    var stacks: [String] = []

    var isEmpty: Bool { types.isEmpty && locks.isEmpty && stacks.isEmpty }

    /// The type names the tables print (ContentionAnalysis.type), then the families that stand for
    /// both sides of a reader-writer lock.
    static let typeNames = [
        "spinlock", "rwlock:R", "rwlock:W", "rwsem:R", "rwsem:W", "rtmutex", "rwlock-rt:R", "rwlock-rt:W",
        "percpu-rwsem:R", "percpu-rwsem:W", "mutex", "semaphore", "unknown",
    ]
    static let families = ["rwlock", "rwsem", "rwlock-rt", "percpu-rwsem"]
    static let validTypes = typeNames + families

    init(types: [String] = [], locks: [String] = [], stacks: [String] = []) {
        self.types = types
        self.locks = locks
        self.stacks = stacks
    }

    func keeps(type: String) -> Bool {
        types.isEmpty
            || types.contains { $0 == type || (Self.families.contains($0) && type.hasPrefix($0 + ":")) }
    }

    /// `name`: the lock's name without its address (a symbol, `&mm->mmap_lock`), nil when it has none.
    func keeps(lock address: UInt64, name: String?) -> Bool {
        locks.isEmpty
            || locks.contains { wanted in
                if let name, wanted == name { return true }
                let hex = wanted.hasPrefix("0x") ? wanted.dropFirst(2) : Substring(wanted)
                return UInt64(hex, radix: 16) == address
            }
    }

    /// `functions`: the stack's function names.
    func keeps(functions: [String]) -> Bool {
        stacks.isEmpty || stacks.contains { wanted in functions.contains { $0.contains(wanted) } }
    }
}
