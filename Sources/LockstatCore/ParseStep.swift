/// Raw samples → samples.pickle and samples.json. Needs only the test directory: it reads the
/// config snapshot and `samples/`, never the live machine, so it re-runs on a copied directory.
public enum ParseStep {
    public struct Outcome {
        public var data: PyValue
        /// Each parsed module's typed results, in config order.
        public var models: [(module: String, model: any ModuleModel)]
        /// Samples per module, in config order.
        public var samples: [(module: String, count: Int)]
        public var warnings: [String]
        /// The modules' lines for the summary (what they saw and cost).
        public var notes: [String]
        /// One line for each raw log that could not be read (its module keeps its earlier data):
        /// the parse is incomplete.
        public var unreadable: [String]
    }

    /// `skipped`: modules the run skipped (they have no raw log); nil reads them from run.json.
    public static func run(
        _ dir: TestDirectory, modules: [any LockstatModule], skipped: [String]? = nil
    ) throws -> Outcome {
        let config = try runConfig(dir, modules: modules)
        let skipped = skipped ?? skippedModules(dir)
        var unreadable = [String]()
        // samples.pickle as it was, read only when a log cannot be: its data for that module stays.
        var earlier: PyValue??
        var entries = [(String, PyValue)]()
        var models = [(module: String, model: any ModuleModel)]()
        var counts = [(module: String, count: Int)]()
        var warnings = [String]()
        var files = ["samples.pickle", "samples.json"]
        var notes = [String]()
        // A module's files of an earlier parse go, so a rerun leaves none stale.
        try dir.removeFromManifest { $0.hasSuffix(".folded") }
        for name in config.modules {
            guard let module = modules.first(where: { $0.name == name }) else { continue }
            let path = dir.rawLog(name)
            // As the original, a module the run skipped still gets its key, without data.
            if skipped.contains(name) && RawLog.isMissing(dir, module: name) {
                entries.append((name, .none))
                continue
            }
            let log: RawLog
            do {
                log = try RawLog.read(dir, module: name)
            } catch {
                if earlier == nil { earlier = .some(try? loadSamples(dir)) }
                let kept = earlier.flatMap { $0?[name] } ?? .none
                unreadable.append("\(error); samples.pickle keeps \(kept == .none ? "no" : "its earlier") \(name) data")
                entries.append((name, kept))
                if kept != .none, let model = try? module.model(decoding: kept, config: config) {
                    models.append((name, model))
                }
                continue
            }
            do {
                if let damage = log.damageReport { warnings.append(damage) }
                if log.droppedBytes > 0 {
                    warnings.append(
                        "\(path): dropped \(log.droppedBytes) bytes after the last whole record (torn or corrupt tail)")
                }
                let parsed = try module.parse(log, config: config)  // the analysis' model part
                warnings += parsed.warnings.map { "\(name): \($0)" }
                notes += parsed.notes
                entries.append((name, parsed.data))
                models.append((name, parsed.model))
                for file in parsed.files { try dir.write(file.name, file.contents) }
                files += parsed.files.map(\.name).filter { !$0.contains("/") }
                counts.append((name, log.sampleCount))
            } catch {
                warnings.append("\(name): parse failed: \(error)")
                entries.append((name, .none))
            }
        }
        // The format of what follows, for readers of later versions (samples.json too).
        let data = PyValue.stringDict([(SamplesFormat.key, .int(Int64(SamplesFormat.version)))] + entries)
        // 0600: the data can hold kernel addresses (locks without a name), readable by root and
        // the invoking user only (given to them under sudo).
        let arrays = SamplesSettings(config).series == .arrays
        try dir.write("samples.pickle", mode: 0o600) { Pickle.write(data, seriesAsArrays: arrays, to: $0) }
        try dir.write("samples.json", mode: 0o600) { JSON.write(data, to: $0) }
        try dir.addToManifest(files)
        return Outcome(
            data: data, models: models, samples: counts, warnings: warnings, notes: notes, unreadable: unreadable)
    }

    /// The modules run.json says the run skipped (none without run.json: a run cut short).
    static func skippedModules(_ dir: TestDirectory) -> [String] {
        (RunMetadata.read(dir).skipped ?? []).compactMap(\.module)
    }
}

/// Typed results → graphs and the page: those a parse step just made, or samples.pickle's read back.
public enum GraphStep {
    /// `lockstat graph`: samples.pickle's models → the modules' graphs, then the page.
    public static func run(
        _ dir: TestDirectory,
        modules: [any LockstatModule]
    ) throws -> (files: [String], warnings: [String]) {
        var warnings = [String]()
        let models = try loadModels(dir, modules: modules, warnings: &warnings)
        let plotted = try plot(dir, modules: modules, models: models)
        try writePage(dir, models: models)
        return (plotted.files, warnings + plotted.warnings)
    }

    /// The page (index.html) of the models' generic results: the one place it is written. It
    /// shows run.json, so a run writes it last.
    public static func writePage(_ dir: TestDirectory, models: [(module: String, model: any ModuleModel)]) throws {
        try RunPage.write(
            dir, modules: models.map { ($0.module, $0.model.results) }, summary: TerminalSummary.lines(models))
    }

    /// Each module's graphs of its model; a module whose plot fails is a warning.
    public static func plot(
        _ dir: TestDirectory, modules: [any LockstatModule],
        models: [(module: String, model: any ModuleModel)]
    )
        throws -> (files: [String], warnings: [String])
    {
        var warnings = [String]()
        // Graphs of an earlier plot step are replaced, not left beside the new ones.
        try dir.removeFromManifest { $0.hasSuffix(".svg") }
        var files = [String]()
        for (name, model) in models {
            guard let module = modules.first(where: { $0.name == name }) else { continue }
            do {
                files += try module.plot(model, into: dir)
            } catch {
                warnings.append("\(name): plot failed: \(error)")
            }
        }
        try dir.addToManifest(files)
        return (files, warnings)
    }
}

/// samples.pickle's and samples.json's format: `_lockstat_format`, beside the modules' keys.
/// Files written before it existed are version 1, and are not read back (their entries had
/// other keys): `lockstat parse DIR` writes them again from the raw logs. Version 2 is read
/// strictly (each module's `decode`); its entries only ever gained keys (`over_run`,
/// `cost.cpus`), which files written before them leave out. Renaming or removing a key, or
/// adding one a decoder must have, makes a new version.
public enum SamplesFormat {
    public static let key = "_lockstat_format"
    public static let version = 2
    /// The oldest format read back.
    public static let oldestRead = 2
}

/// DIR/samples.pickle read back, with errors that name the file.
public func loadSamples(_ dir: TestDirectory) throws -> PyValue {
    let path = dir.file("samples.pickle")
    let read = try dir.withFile("samples.pickle") { fd -> Result<PyValue, FileReader.Failure> in
        do { return .success(try Unpickler.decode(file: fd)) } catch { throw LockstatError("\(path): \(error)") }
    }
    switch read {
    case .success(let samples):
        let version = Int(samples[SamplesFormat.key]?.number ?? 1)
        guard version <= SamplesFormat.version else {
            throw LockstatError(
                "\(path): written by a newer lockstat (format \(version); this one reads "
                    + "\(SamplesFormat.oldestRead) to \(SamplesFormat.version))")
        }
        guard version >= SamplesFormat.oldestRead else {
            throw LockstatError(
                "\(path): format \(version), written by an older lockstat: "
                    + "`lockstat parse \(dir.path)` writes it again from the raw logs")
        }
        return samples
    case .failure(let f):
        throw LockstatError("\(path): \(f.reason)" + (f == .missing ? ": run `lockstat parse \(dir.path)` first" : ""))
    }
}

/// Each module's entry of DIR/samples.pickle decoded into its typed results, in the file's
/// order; modules without data are left out, and an entry that does not decode is a warning.
/// A samples.pickle without its lockstat.config (copied alone) is read with the defaults.
public func loadModels(
    _ dir: TestDirectory, modules: [any LockstatModule], warnings: inout [String],
    overrides: SettingOverrides = SettingOverrides()
) throws -> [(module: String, model: any ModuleModel)] {
    let samples = try loadSamples(dir)
    let config =
        FileReader.check(dir.file("lockstat.config")) == .missing
        ? Config(modules: samples.keys) : try runConfig(dir, modules: modules)
    var models = [(module: String, model: any ModuleModel)]()
    let withData = samples.keys.compactMap { name in
        samples[name] == PyValue.none ? nil : modules.first { $0.name == name }
    }
    warnings += overrides.unapplied(to: withData)
    for name in samples.keys {
        guard let module = modules.first(where: { $0.name == name }), let entry = samples[name], entry != .none else {
            continue
        }
        // Settings the pickle was not made with: the module's model is made again from its raw log.
        if let changed = overrides.applied(to: config, module: module) {
            models.append((name, try module.parse(try RawLog.read(dir, module: name), config: changed).model))
            continue
        }
        do {
            models.append((name, try module.model(decoding: entry, config: config)))
        } catch {
            warnings.append("\(dir.file("samples.pickle")): \(name): \(error)")
        }
    }
    return models
}

/// DIR/lockstat.config: the config the run had.
public func runConfig(_ dir: TestDirectory, modules: [any LockstatModule]) throws -> Config {
    let path = dir.file("lockstat.config")
    guard case .success(let bytes) = dir.read("lockstat.config") else {
        throw LockstatError("\(path): missing: not a lockstat test directory")
    }
    return try ConfigParser.parse(String(decoding: bytes, as: UTF8.self), file: path, catalog: ModuleCatalog(modules))
}

extension ModuleCatalog {
    public init(_ modules: [any LockstatModule]) {
        self.init(
            keys: Dictionary(uniqueKeysWithValues: modules.map { ($0.name, $0.configKeys) }),
            aliases: Dictionary(uniqueKeysWithValues: modules.flatMap { m in m.aliases.map { ($0, m.name) } }),
            listed: modules.map { ($0.name, $0.exampleSettings) })
    }
}

/// Module settings given on the command line for reading a run (`report --type mutex`): each key
/// replaces the run's own value in every module that has the key.
public struct SettingOverrides {
    /// (option, key, values), in the order given.
    public var settings: [(option: String, key: String, values: [String])] = []

    public init() {}

    public mutating func add(option: String, key: String, values: [String]) {
        if !values.isEmpty { settings.append((option, key, values)) }
    }

    /// Usage errors (exit 2): a value no module with the key takes, or a key no module has. Each
    /// module takes its own words (`--type condvar` is a futex kind, no kernel lock type).
    public func check(_ modules: [any LockstatModule]) throws {
        for (option, key, values) in settings {
            let accepting = modules.compactMap { $0.configKeys[key] }
            guard let accepts = accepting.first else {
                throw LockstatError.usage("\(option): none of the modules filters by \(key)")
            }
            guard let unknown = values.first(where: { v in accepting.allSatisfy { $0.problem([v]) != nil } }) else {
                continue
            }
            var words = [String]()
            for case .words(let allowed?) in accepting { words += allowed.filter { !words.contains($0) } }
            let listed = "takes words from " + words.joined(separator: ", ") + ", got '\(unknown)'"
            let problem = words.isEmpty ? accepts.problem(values) ?? "" : listed
            throw LockstatError.usage("\(option): \(problem)")
        }
    }

    /// One line per option some of the run's modules cannot apply: a module without the key
    /// shows its tables whole; one that takes none of the values given keeps none of its rows.
    public func unapplied(to run: [any LockstatModule]) -> [String] {
        var lines = [String]()
        for (option, key, values) in settings {
            let without = run.filter { $0.configKeys[key] == nil }.map(\.name)
            let foreign = run.filter { m in
                m.configKeys[key].map { accepts in values.allSatisfy { accepts.problem([$0]) != nil } } ?? false
            }.map(\.name)
            var parts = [String]()
            if !without.isEmpty { parts.append("not applied to \(without.joined(separator: ", ")) (its tables whole)") }
            if !foreign.isEmpty {
                parts.append("no \(key) of \(foreign.joined(separator: ", ")) (none of its rows kept)")
            }
            guard !parts.isEmpty else { continue }
            lines.append("\(option) \(values.joined(separator: " ")): " + parts.joined(separator: "; "))
        }
        return lines
    }

    /// The run's config with the overrides `module` has keys for; nil when it has none of them.
    func applied(to config: Config, module: any LockstatModule) -> Config? {
        let own = settings.filter { module.configKeys[$0.key] != nil }
        guard !own.isEmpty else { return nil }
        var changed = config
        for (_, key, values) in own { changed.moduleSettings[module.name, default: [:]][key] = values }
        return changed
    }
}
