import LockstatCore

/// `contention.*`.
struct ContentionSettings: ModuleSettings {
    /// `auto`: bpf where this machine allows it, else ring.
    enum Mode: String, CaseIterable { case auto, bpf, ring }

    var scope = SamplingScope.system
    var top = defaultTopRows
    var mode = Mode.auto
    /// perf lock contention -b's default size of its maps.
    var entries = 16384
    /// Which contentions are recorded (bpf mode: at each drain, before the raw log) and counted.
    var filter = ContentionFilter()

    static var settings: [Setting<ContentionSettings>] {
        [
            .choice("scope", \.scope), .top(\.top), .choice("mode", \.mode),
            .integer("entries", \.entries, ContentionModule.entriesRange),
            .words("types", \.filter.types, ContentionFilter.validTypes), .words("locks", \.filter.locks, nil),
            .words("stacks", \.filter.stacks, nil),
        ]
    }

    init() {}

    init(_ config: Config) { self.init(config, module: ContentionModule.moduleName) }
}
