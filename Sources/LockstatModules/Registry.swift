import LockstatCore

/// Every built-in module, in the order `lockstat modules` and `doctor` list them: the one place
/// a new module is added. The core gets this list (or another) passed in; it names no module.
public enum BuiltInModules {
    public static let all: [any LockstatModule] = [
        StatModule(), DiskstatsModule(), LockStatModule(), ContentionModule(), FutexModule(), ProfileModule(),
    ]

    /// What the config parser knows of the built-in modules (their keys, aliases, the default config).
    public static var catalog: ModuleCatalog { ModuleCatalog(all) }
}

extension ConfigParser {
    /// The built-in default config, made from the registry's modules.
    public static var defaultText: String { defaultText(BuiltInModules.catalog) }

    /// `warnings(_:file:catalog:)` with the registry's default modules.
    public static func warnings(_ text: String, file: String) throws -> [String] {
        try warnings(text, file: file, catalog: BuiltInModules.catalog)
    }
}
