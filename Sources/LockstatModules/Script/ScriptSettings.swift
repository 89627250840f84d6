import LockstatCore

/// A drop-in module's `NAME.*` (its name is the file's, so the config is read by name).
struct ScriptSettings: ModuleSettings {
    /// NAME.timeout: seconds one call (presampling, a sample, postsampling, parse, plot) may take.
    var timeout = CallLimit.defaultSeconds

    static var settings: [Setting<ScriptSettings>] { [.seconds("timeout", \.timeout, CallLimit.range)] }

    init() {}
}
