import LockstatCore

/// `lock_stat.*`.
struct LockStatSettings: ModuleSettings {
    /// Every class's statistics cleared when the switch goes on, so a run measures the program alone.
    var clear = true
    var top = defaultTopRows

    static var settings: [Setting<LockStatSettings>] { [.yesNo("clear", \.clear), .top(\.top)] }

    init() {}

    init(_ config: Config) { self.init(config, module: LockStatModule.moduleName) }
}
