/// The original's config format, kept and extended:
/// one setting per line, `key value [value...]`, separated by spaces; `#` starts a comment;
/// `<module>.<key>` sets a module's own key. Duplicate keys: the last wins, as in the original.
public struct Config: Equatable, Sendable {
    /// Modules in the order the user wrote them (the original lost this order; we keep it).
    public var modules: [String]
    /// `modules auto`: the modules are chosen where the config is used (`AutomaticModules`);
    /// `modules` is empty until then.
    public var automatic: Bool
    /// Seconds between samples for every module without its own `<module>.intervall`.
    public var interval: Double
    /// Other global keys (`vmlinux`, `kernel_mod`, `procfiles`) kept verbatim.
    public var globals: [String: [String]]
    /// `<module>.<key>` settings, by module then key.
    public var moduleSettings: [String: [String: [String]]]

    public static let defaultInterval = 0.1

    public init(
        modules: [String], automatic: Bool = false, interval: Double = Config.defaultInterval,
        globals: [String: [String]] = [:], moduleSettings: [String: [String: [String]]] = [:]
    ) {
        self.modules = modules
        self.automatic = automatic
        self.interval = interval
        self.globals = globals
        self.moduleSettings = moduleSettings
    }

    /// The interval of one module: its own `<module>.intervall`, else the module's default,
    /// else the global one.
    public func interval(for module: String, moduleDefault: Double? = nil) -> Double {
        if let v = moduleSettings[module]?["intervall"]?.first, let d = Double(v) { return d }
        return moduleDefault ?? interval
    }

    public func setting(_ module: String, _ key: String) -> [String]? { moduleSettings[module]?[key] }

    /// The config in its own format, so a run can be repeated from the file.
    public func rendered() -> String {
        var lines = [
            "# lockstat configuration: the effective settings of this run",
            "modules " + (automatic ? AutomaticModules.word : modules.joined(separator: " ")),
        ]
        lines.append("intervall \(formatNumber(interval))")
        for key in globals.keys.sorted() { lines.append(([key] + globals[key]!).joined(separator: " ")) }
        for module in moduleSettings.keys.sorted() {
            for key in moduleSettings[module]!.keys.sorted() {
                lines.append((["\(module).\(key)"] + moduleSettings[module]![key]!).joined(separator: " "))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

/// Shortest text that reads back as the same Double (0.1, not 0.10000000000000001).
func formatNumber(_ d: Double) -> String {
    if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) }
    return "\(d)"
}

/// What the config parser must know about modules: their names and their own keys.
public struct ModuleCatalog: Sendable {
    public var keys: [String: [String: ConfigValue]]
    /// Another name → the module's own name.
    public var aliases: [String: String]
    /// Folders searched for drop-in modules, for the unknown-module error.
    public var searched: [String]
    /// Every module's name in the registry's order, and its example settings, for the default config's comments.
    public var listed: [(module: String, examples: [String])]

    public init(
        keys: [String: [String: ConfigValue]], aliases: [String: String] = [:], searched: [String] = [],
        listed: [(module: String, examples: [String])] = []
    ) {
        self.keys = keys
        self.aliases = aliases
        self.searched = searched
        self.listed = listed
    }

    public var names: [String] { (Array(keys.keys) + Array(aliases.keys)).sorted() }

    /// The module's own name for a name or alias.
    public func canonical(_ name: String) -> String { aliases[name] ?? name }

    var searchedText: String {
        searched.isEmpty ? "" : " (not built in, nor in " + searched.joined(separator: ", ") + ")"
    }

    /// The `module_path` values of a config text (the last such line), before it is parsed.
    public static func modulePath(in text: String) -> [String]? {
        var found: [String]?
        for line in ConfigParser.textLines(text) {
            let tokens = (line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? "").split(
                separator: " ")
            if tokens.first == "module_path" { found = tokens.dropFirst().map(String.init) }
        }
        return found
    }
}

public enum ConfigParser {
    /// Keys of lockstat's own steps, beside the modules' (`serve.max_series`, `samples.series`).
    static let stepKeys: [String: [String: ConfigValue]] = [
        ServeSettings.section: ServeSettings.configKeys,
        SamplesSettings.section: SamplesSettings.configKeys,
    ]

    static let globalKeys = ["modules", "intervall", "samprate", "vmlinux", "kernel_mod", "procfiles", "module_path"]
    /// Every module understands its own interval.
    static let commonModuleKeys = ["intervall"]

    /// The built-in default for the modules of `catalog`: works on any Linux machine with no
    /// setup. `make install` writes it as PREFIX/etc/lockstat/lockstat.config; `lockstat config
    /// --default` prints it.
    public static func defaultText(_ catalog: ModuleCatalog) -> String {
        let examples = catalog.listed.flatMap { m in m.examples.map { "# \(m.module).\($0)\n" } }.joined()
        return """
            # lockstat configuration: one setting per line, `key value [value...]`; `#` starts a comment.
            # `lockstat config` shows which file is in effect; `lockstat modules` what can run here.

            # modules to run, in order (\(catalog.listed.map(\.module).joined(separator: " "))),
            # or `auto`: every module that can run here at a cost the workload cannot feel
            # (`lockstat doctor` says which, and what would enable the others)
            modules \(AutomaticModules.word)

            # seconds between samples (`samprate N` is the older key: samples per second)
            intervall \(formatNumber(Config.defaultInterval))

            # per-module keys, for example:

            """ + examples
    }

    public static func parse(_ text: String, file: String, catalog: ModuleCatalog) throws -> Config {
        var config = Config(modules: [], automatic: true)
        for (where_, key, values) in try lines(text, file: file) {
            try apply(key: key, values: values, to: &config, at: where_, catalog: catalog)
        }
        return config
    }

    /// One line for a config that will not do what its author probably meant: no `modules` line
    /// (the defaults are sampled then).
    public static func warnings(_ text: String, file: String, catalog: ModuleCatalog) throws -> [String] {
        try lines(text, file: file).contains { $0.key == "modules" }
            ? []
            : [
                "\(file): no `modules` line: sampling `modules \(AutomaticModules.word)`"
            ]
    }

    /// The most a config file may hold, and a line of it: far more than any setting needs, and
    /// bounds what a file of junk (a log given as --config) costs to refuse.
    public static let maxFileBytes = 1 << 20
    public static let maxLineBytes = 64 << 10

    /// The lines of a config: LF or CRLF endings ("\r\n" is one Character in Swift, so a split
    /// on "\n" alone would leave a CRLF file one line).
    public static func textLines(_ text: String) -> [Substring] {
        text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" })
    }

    /// (file:line, key, values) of each setting.
    static func lines(_ text: String, file: String) throws -> [(location: String, key: String, values: [String])] {
        try textLines(text).enumerated().compactMap { index, rawLine in
            guard rawLine.utf8.count <= maxLineBytes else {
                throw LockstatError.usage("\(file):\(index + 1): line longer than \(maxLineBytes) bytes: refused")
            }
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            let tokens = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            guard let key = tokens.first else { return nil }
            return ("\(file):\(index + 1)", key, Array(tokens.dropFirst()))
        }
    }

    static func apply(
        key: String, values: [String], to config: inout Config, at location: String, catalog: ModuleCatalog
    ) throws {
        if let dot = key.firstIndex(of: "."), !globalKeys.contains(key) {
            let module = catalog.canonical(String(key[..<dot]))
            let sub = String(key[key.index(after: dot)...])
            if let ownKeys = Self.stepKeys[module] {
                guard let value = ownKeys[sub] else {
                    throw LockstatError.usage(
                        "\(location): unknown key '\(key)'" + hint(sub, ownKeys.keys.sorted(), prefix: module + "."))
                }
                if let problem = value.problem(values) {
                    throw LockstatError.usage("\(location): key '\(key)' \(problem)")
                }
                config.moduleSettings[module, default: [:]][sub] = values
                return
            }
            guard let moduleKeys = catalog.keys[module] else {
                throw LockstatError.usage(
                    "\(location): unknown module '\(module)' in key '\(key)'" + hint(module, catalog.names))
            }
            let known = commonModuleKeys + moduleKeys.keys.sorted()
            guard known.contains(sub) else {
                throw LockstatError.usage("\(location): unknown key '\(key)'" + hint(sub, known, prefix: module + "."))
            }
            if sub == "intervall" { _ = try interval(values, key: key, at: location) }
            if let problem = moduleKeys[sub]?.problem(values) {
                throw LockstatError.usage("\(location): key '\(key)' \(problem)")
            }
            config.moduleSettings[module, default: [:]][sub] = values
            return
        }
        switch key {
        case "modules":
            try setModules(values, in: &config, catalog: catalog, at: location, in: " in key 'modules'")
        case "intervall":
            config.interval = try interval(values, key: key, at: location)
        case "samprate":
            // The older key: samples per second.
            let rate = try positive(values, key: key, at: location)
            guard let seconds = validInterval(1 / rate) else {
                throw LockstatError.usage(
                    "\(location): key '\(key)' must be from \(1 / maxInterval) to \(1 / minInterval) samples per second, got \(values[0])"
                )
            }
            config.interval = seconds
        case "vmlinux", "kernel_mod", "procfiles", "module_path":
            config.globals[key] = values
        default:
            throw LockstatError.usage("\(location): unknown key '\(key)'" + hint(key, globalKeys))
        }
    }

    /// `--modules a,b` (or `--modules auto`): the comma-separated list checked as a config's
    /// `modules` line is, replacing the config's.
    public static func setModules(
        commaSeparated list: String, in config: inout Config, catalog: ModuleCatalog, at place: String
    ) throws {
        let names = list.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty }
        try setModules(names, in: &config, catalog: catalog, at: place, in: "")
    }

    /// The modules a `modules` line or `--modules` names, or `auto` alone.
    static func setModules(
        _ names: [String], in config: inout Config, catalog: ModuleCatalog, at place: String, in context: String
    ) throws {
        if names.contains(AutomaticModules.word) {
            guard names.count == 1 else {
                throw LockstatError.usage(
                    "\(place): '\(AutomaticModules.word)' stands alone\(context): it chooses every module that can run here"
                )
            }
            (config.modules, config.automatic) = ([], true)
            return
        }
        config.modules = try moduleList(
            names, catalog: catalog, at: place, in: context, namingSearched: !context.isEmpty)
        config.automatic = false
    }

    /// The modules a list names (`modules`, `--modules`), by their own names, each known and none
    /// twice: a module listed twice, under its name or an alias, would sample twice into one raw
    /// log, and which of two meanings the author had is not for lockstat to guess. Errors start
    /// with `place` ("FILE:LINE", "--modules"); a config's also say where drop-ins were looked for.
    public static func moduleList(
        _ names: [String], catalog: ModuleCatalog, at place: String, in context: String = "",
        namingSearched: Bool = false
    ) throws -> [String] {
        var seen = [String: String]()
        return try names.map { name in
            let module = catalog.canonical(name)
            guard catalog.keys[module] != nil else {
                throw LockstatError.usage(
                    "\(place): unknown module '\(name)'\(context)" + hint(name, catalog.names)
                        + (namingSearched ? catalog.searchedText : ""))
            }
            if let first = seen[module] {
                let as_ = first == name ? "" : " (as '\(first)' and '\(name)')"
                throw LockstatError.usage(
                    "\(place): module '\(module)' listed twice\(context)\(as_): a module samples once per run")
            }
            seen[module] = name
            return module
        }
    }

    /// Intervals lockstat can keep: a tick's nanoseconds must fit the sampler's 64-bit clock
    /// arithmetic many times over; a day between samples is already more than any run needs.
    public static let maxInterval = 86_400.0
    public static let minInterval = 1e-6

    /// `seconds` when it is an interval lockstat can sample at, else nil.
    public static func validInterval(_ seconds: Double) -> Double? {
        seconds.isFinite && seconds >= minInterval && seconds <= maxInterval ? seconds : nil
    }

    static func interval(_ values: [String], key: String, at location: String) throws -> Double {
        try interval(values, at: "\(location): key '\(key)'")
    }

    /// The seconds of an interval given as `values` (a config key's, `--interval`'s), checked;
    /// errors start with `place` ("FILE:LINE: key 'intervall'", "--interval:").
    public static func interval(_ values: [String], at place: String) throws -> Double {
        let v = try positive(values, at: place)
        guard validInterval(v) != nil else {
            throw LockstatError.usage(
                "\(place) must be from \(minInterval) to \(Int(maxInterval)) seconds, got \(values[0])")
        }
        return v
    }

    static func positive(_ values: [String], key: String, at location: String) throws -> Double {
        try positive(values, at: "\(location): key '\(key)'")
    }

    static func positive(_ values: [String], at place: String) throws -> Double {
        guard values.count == 1, let v = Double(values[0]), v.isFinite else {
            throw LockstatError.usage("\(place) needs one number, got '\(values.joined(separator: " "))'")
        }
        guard v > 0 else { throw LockstatError.usage("\(place) must be greater than 0, got \(values[0])") }
        return v
    }

    /// " (did you mean 'x'?)" for the nearest known word within two edits.
    public static func hint(_ word: String, _ known: [String], prefix: String = "") -> String {
        let length = word.count
        let most = max(2, length / 3)
        // Words whose lengths differ by more than `most` are further apart than that: not compared
        // (a long word costs its length, not its length times each name's).
        let best = known.filter { abs($0.count - length) <= most }.map { ($0, editDistance($0, word)) }.min {
            $0.1 < $1.1
        }
        guard let (name, d) = best, d <= most else { return "" }
        return " (did you mean '\(prefix)\(name)'?)"
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a)
        let b = Array(b)
        guard !a.isEmpty, !b.isEmpty else { return max(a.count, b.count) }
        var row = Array(0...b.count)
        for i in 1...a.count {
            var prev = row[0]
            row[0] = i
            for j in 1...b.count {
                let cur = row[j]
                row[j] = min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] == b[j - 1] ? 0 : 1))
                prev = cur
            }
        }
        return row[b.count]
    }
}
