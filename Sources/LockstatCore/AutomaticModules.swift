/// `modules auto`, the built-in default: every module whose own `automaticRefusal` has nothing
/// against it here, with these privileges and this config. The core asks the modules; it names none.
public enum AutomaticModules {
    /// The word of the config's `modules` line and of `--modules`.
    public static let word = "auto"

    /// The modules `modules auto` samples, in the order given, and each one left out with why.
    public static func choose(
        _ modules: [any LockstatModule], config: Config, system: SystemRoot
    ) -> (chosen: [String], leftOut: [(module: String, reason: String)]) {
        var chosen = [String]()
        var leftOut = [(module: String, reason: String)]()
        for module in modules {
            if let reason = module.automaticRefusal(config, system) {
                leftOut.append((module.name, reason))
            } else {
                chosen.append(module.name)
            }
        }
        return (chosen, leftOut)
    }

    /// `config` with its modules chosen, when it says `modules auto`; the lines for those left out.
    public static func resolve(
        _ config: Config, modules: [any LockstatModule], system: SystemRoot
    ) -> (config: Config, leftOut: [String]) {
        guard config.automatic else { return (config, []) }
        let (chosen, leftOut) = choose(modules, config: config, system: system)
        var resolved = config
        (resolved.modules, resolved.automatic) = (chosen, false)
        return (resolved, leftOut.map { line(module: $0.module, reason: $0.reason) })
    }

    /// What run and serve print for a module left out; doctor shows the same reason under the module.
    public static func line(module: String, reason: String) -> String {
        "modules \(word): left out \(module): \(reason)"
    }
}
