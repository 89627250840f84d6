import LockstatCore

/// `futex.*`.
struct FutexSettings: ModuleSettings {
    /// program (the default): a user stack belongs to its process's owner; system traces every task.
    var scope = SamplingScope.program
    var top = defaultTopRows
    /// Aggregation entries kept in the kernel (a key is a lock word, task, outcome and both sides' stacks).
    var entries = 16384

    static var settings: [Setting<FutexSettings>] {
        [.choice("scope", \.scope), .top(\.top), .integer("entries", \.entries, FutexModule.entriesRange)]
    }

    init() {}

    init(_ config: Config) { self.init(config, module: FutexModule.moduleName) }
}
