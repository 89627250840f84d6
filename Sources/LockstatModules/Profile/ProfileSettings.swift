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

    static var settings: [Setting<ProfileSettings>] {
        [
            .integer("frequency", \.frequency, ProfileModule.frequencyRange), .choice("scope", \.scope), .top(\.top),
            .choice("event", \.event), .yesNo("random_period", \.randomPeriod),
        ]
    }

    init() {}

    init(_ config: Config) { self.init(config, module: ProfileModule.moduleName) }
}
