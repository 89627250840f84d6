import LockstatCore

/// `oprofile.*`.
struct ProfileSettings: ModuleSettings {
    /// `auto`: hardware cycles where the machine has a PMU, else cpu-clock.
    enum Event: String, CaseIterable {
        case auto, cycles
        case cpuClock = "cpu-clock"
    }

    /// Hz.
    var frequency = 99
    var scope = SamplingScope.system
    var top = defaultTopRows
    var event = Event.auto
    var randomPeriod = true
    /// How user stacks are walked: by frame pointers in the kernel (`fp`, cheap; stops at the
    /// first function built without them), or from a copy of the stack by DWARF call-frame
    /// information at parse (`dwarf`, as `perf record --call-graph dwarf`: 8 KiB a sample).
    var callgraph = CallGraph.fp

    enum CallGraph: String, CaseIterable { case fp, dwarf }

    static var settings: [Setting<ProfileSettings>] {
        [
            .integer("frequency", \.frequency, ProfileModule.frequencyRange), .choice("scope", \.scope), .top(\.top),
            .choice("event", \.event), .yesNo("random_period", \.randomPeriod),
            .choice("callgraph", \.callgraph),
        ]
    }

    init() {}

    init(_ config: Config) { self.init(config, module: ProfileModule.moduleName) }
}
