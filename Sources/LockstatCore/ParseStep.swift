/// Raw samples → samples.pickle and samples.json. Needs only the test directory: it reads the
/// config snapshot and `samples/`, never the live machine, so it re-runs on a copied directory.
public enum ParseStep {
    public struct Outcome {
        public var data: PyValue
        /// Samples per module, in config order.
        public var samples: [(module: String, count: Int)]
        public var warnings: [String]
        /// The modules' lines for the summary (what they saw and cost).
        public var notes: [String]
    }

    public static func run(_ dir: TestDirectory, modules: [any LockstatModule]) throws -> Outcome {
        let catalog = ModuleCatalog(modules)
        let configPath = dir.file("lockstat.config")
        guard case .success(let bytes) = dir.read("lockstat.config") else {
            throw LockstatError("\(configPath): missing: not a lockstat test directory")
        }
        let config = try ConfigParser.parse(String(decoding: bytes, as: UTF8.self), file: configPath, catalog: catalog)
        var entries = [(String, PyValue)]()
        var counts = [(module: String, count: Int)]()
        var warnings = [String]()
        var files = ["samples.pickle", "samples.json"]
        var notes = [String]()
        // A module's files of an earlier parse go, so a rerun leaves none stale.
        try dir.removeFromManifest { $0.hasSuffix(".folded") }
        for name in config.modules {
            guard let module = modules.first(where: { $0.name == name }) else { continue }
            let path = dir.rawLog(name)
            guard FileReader.check(path) == nil else {
                // As the original: a module without data still gets its key.
                entries.append((name, .none))
                continue
            }
            do {
                let log = try RawLog.read(path: path)
                if let damage = log.damageReport { warnings.append(damage) }
                if log.droppedBytes > 0 {
                    warnings.append("\(path): dropped \(log.droppedBytes) bytes after the last whole record (torn or corrupt tail)")
                }
                let parsed = try module.parse(log, config: config)
                warnings += parsed.warnings.map { "\(name): \($0)" }
                notes += parsed.notes
                entries.append((name, parsed.data))
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
        try dir.write("samples.pickle", Pickle.encode(data), mode: 0o600)
        try dir.write("samples.json", JSON.encode(data), mode: 0o600)
        try dir.addToManifest(files)
        return Outcome(data: data, samples: counts, warnings: warnings, notes: notes)
    }
}

/// samples.pickle → graphs. Needs only samples.pickle.
public enum GraphStep {
    public static func run(_ dir: TestDirectory, modules: [any LockstatModule], data: PyValue? = nil) throws -> (files: [String], warnings: [String]) {
        let samples = try data ?? loadSamples(dir)
        // Graphs of an earlier plot step are replaced, not left beside the new ones.
        try dir.removeFromManifest { $0.hasSuffix(".svg") }
        var files = [String](), warnings = [String]()
        for name in samples.keys {
            guard let module = modules.first(where: { $0.name == name }), let data = samples[name], data != .none else { continue }
            do {
                files += try module.plot(data, into: dir)
            } catch {
                warnings.append("\(name): plot failed: \(error)")
            }
        }
        try dir.addToManifest(files)
        return (files, warnings)
    }
}

/// samples.pickle's and samples.json's format: `_lockstat_format`, beside the modules' keys.
/// Files written before it existed are version 1.
public enum SamplesFormat {
    public static let key = "_lockstat_format"
    public static let version = 2
}

/// DIR/samples.pickle read back, with errors that name the file.
public func loadSamples(_ dir: TestDirectory) throws -> PyValue {
    let path = dir.file("samples.pickle")
    switch dir.read("samples.pickle") {
    case .success(let bytes):
        let samples: PyValue
        do { samples = try Unpickler.decode(bytes) } catch { throw LockstatError("\(path): \(error)") }
        let version = Int(samples[SamplesFormat.key]?.number ?? 1)
        guard version <= SamplesFormat.version else {
            throw LockstatError("\(path): written by a newer lockstat (format \(version); this one reads 1 to \(SamplesFormat.version))")
        }
        return samples
    case .failure(let f):
        throw LockstatError("\(path): \(f.reason)" + (f == .missing ? ": run `lockstat parse \(dir.path)` first" : ""))
    }
}

extension ModuleCatalog {
    public init(_ modules: [any LockstatModule]) {
        self.init(keys: Dictionary(uniqueKeysWithValues: modules.map { ($0.name, $0.configKeys) }),
                  aliases: Dictionary(uniqueKeysWithValues: modules.flatMap { m in m.aliases.map { ($0, m.name) } }))
    }
}
