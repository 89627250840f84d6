import LockstatCore

/// `futex.*`.
struct FutexSettings: ModuleSettings {
    /// program (the default): a user stack belongs to its process's owner; system traces every task.
    var scope = SamplingScope.program
    var top = defaultTopRows
    /// Aggregation entries kept in the kernel (a key is a lock word, task, outcome and both sides' stacks).
    var entries = 16384

    /// Which waits are counted (at analysis), as contention's filter chooses: by kind, by lock word
    /// (its name, its symbol alone or its address), by a frame of the waiter's stack containing a text.
    var filter = ContentionFilter()
    /// The programs' run time counted by the kernel for the run (the counters' `bpf_ns`); off unless
    /// asked for, as contention.bpf_time.
    var bpfTime = false

    static var settings: [Setting<FutexSettings>] {
        [
            .choice("scope", \.scope), .top(\.top), .integer("entries", \.entries, FutexModule.entriesRange),
            .words("types", \.filter.types, FutexKind.allCases.map(\.rawValue)), .words("locks", \.filter.locks, nil),
            .words("stacks", \.filter.stacks, nil), .yesNo("bpf_time", \.bpfTime),
        ]
    }

    init() {}

    init(_ config: Config) { self.init(config, module: FutexModule.moduleName) }
}
