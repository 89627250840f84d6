import Foundation

/// What `compare` reads of one side: a single test directory, or a repeat set (`run --repeat
/// N`: DIR/1 … DIR/N, each a complete test directory, and DIR/set.json).
public struct RunGroup {
    public struct Run {
        public let directory: String
        /// The program's run time (run.json), which counts and times are divided by.
        public let seconds: Double
        public let status: Int32
        /// run.json as written; empty for a run without one.
        public let metadata: [String: Any]
        public let results: [(module: String, results: Results)]
    }

    public let path: String
    public let isSet: Bool
    /// The runs that count: those that ended with status 0.
    public let runs: [Run]
    /// Runs left out of the statistics, with their status.
    public let failed: [(directory: String, status: Int32)]

    /// Every run of `path`, its results decoded with the modules `modules(runDirectory)` names.
    public static func load(_ path: String, modules: (String) throws -> [any LockstatModule], warnings: inout [String]) throws -> RunGroup {
        let dir = TestDirectory(path)
        let members = RunSet.members(dir)
        let isSet = !members.isEmpty
        var runs = [Run](), failed = [(directory: String, status: Int32)]()
        for runPath in isSet ? members.map({ path + "/" + $0 }) : [path] {
            let run = TestDirectory(runPath)
            let metadata = RunSet.metadata(run)
            let status = Int32(metadata["exit_status"] as? Int ?? 0)
            guard status == 0 else { failed.append((runPath, status)); continue }
            let models = try loadModels(run, modules: try modules(runPath), warnings: &warnings)
            runs.append(Run(directory: runPath, seconds: metadata["seconds"] as? Double ?? .nan, status: status, metadata: metadata,
                            results: models.map { ($0.module, $0.model.results) }))
        }
        return RunGroup(path: path, isSet: isSet, runs: runs, failed: failed)
    }
}

/// A repeat set's directory: the runs in DIR/1 … DIR/N, the warm-up runs in DIR/warmup-1 …,
/// and the summary in DIR/set.json and DIR/set.pickle.
public enum RunSet {
    public static let summaryName = "set.json"

    /// The counted runs' folder names, in order: from set.json, else the numbered folders
    /// that hold a run.
    static func members(_ dir: TestDirectory) -> [String] {
        if case .success(let bytes) = dir.read(summaryName),
           let summary = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
           let runs = summary["runs"] as? [[String: Any]] {
            return runs.compactMap { $0["directory"] as? String }
        }
        let numbered: [(name: String, number: Int)] = dir.folders().compactMap { name in Int(name).map { (name, $0) } }
        return numbered.sorted { $0.number < $1.number }.map(\.name).filter { FileReader.check(dir.file($0 + "/lockstat.config")) == nil }
    }

    public static func isSet(_ path: String) -> Bool { !members(TestDirectory(path)).isEmpty }

    /// A run's run.json, read through its directory descriptor; empty when it has none.
    public static func metadata(_ run: TestDirectory) -> [String: Any] {
        guard case .success(let bytes) = run.read("run.json") else { return [:] }
        return (try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]) ?? [:]
    }

    /// One run of a set, as the set's summary lists it.
    public struct Member {
        public let directory: String
        public let status: Int32
        public let seconds: Double
        public let counted: Bool

        public init(directory: String, status: Int32, seconds: Double, counted: Bool) {
            self.directory = directory
            self.status = status
            self.seconds = seconds
            self.counted = counted
        }
    }

    /// DIR/set.json and DIR/set.pickle: the runs (durations, exit statuses, which count), and
    /// per row of every table its value in each counted run (counts and times missing from a
    /// run are 0 there; other kinds None) and their median.
    public static func writeSummary(_ dir: TestDirectory, members: [Member], warmup: Int, modules: (String) throws -> [any LockstatModule],
                                    warnings: inout [String]) throws {
        var runs = [[(module: String, results: Results)]]()
        for m in members where m.counted {
            let run = TestDirectory(dir.file(m.directory))
            runs.append(try loadModels(run, modules: try modules(run.path), warnings: &warnings).map { ($0.module, $0.model.results) })
        }
        var tables = [(String, PyValue)]()
        for (module, names) in tableNames(runs) {
            var entries = [(String, PyValue)]()
            for name in names {
                let perRun = runs.map { $0.first { $0.module == module }?.results.tables.first { $0.name == name } }
                guard let schema = perRun.compactMap({ $0 }).first else { continue }
                var keys = [[String]](), seen = Set<[String]>()
                for table in perRun.compactMap({ $0 }) { for row in table.rows where seen.insert(row.key(in: table)).inserted { keys.append(row.key(in: table)) } }
                let rows = keys.map { labels -> PyValue in
                    let metrics = schema.metrics.enumerated().map { k, column -> (String, PyValue) in
                        let values = perRun.map { table -> Double in
                            table.flatMap { t in t.rows.first { $0.key(in: t) == labels } }?.values[k] ?? (column.kind == .count || column.kind == .time ? 0 : .nan)
                        }
                        return (column.name, .stringDict([("values", .series(values)), ("median", .float(Statistics.median(values.filter { !$0.isNaN })))]))
                    }
                    return .stringDict([("labels", .strings(labels)), ("metrics", .stringDict(metrics))])
                }
                entries.append((name, .stringDict([("labels", .strings(schema.identity.map { schema.labels[$0] })), ("metrics", .strings(schema.metrics.map(\.name))),
                                                   ("units", .strings(schema.metrics.map(\.unit))), ("rows", .list(rows))])))
            }
            tables.append((module, .stringDict(entries)))
        }
        let summary = PyValue.stringDict([
            (SamplesFormat.key, .int(1)),
            ("runs", .list(members.map { m in
                .stringDict([("directory", .string(m.directory)), ("exit_status", .int(Int64(m.status))), ("seconds", .float(m.seconds)),
                             ("counted", .bool(m.counted))])
            })),
            ("warmup_runs", .int(Int64(warmup))),
            ("tables", .stringDict(tables)),
        ])
        try dir.write(summaryName, JSON.encode(summary))
        try dir.write("set.pickle", Pickle.encode(summary))
        try dir.addToManifest([summaryName, "set.pickle"])
    }

    /// The summary again from the runs as they are now (after `lockstat parse` of each).
    public static func rewriteSummary(_ dir: TestDirectory, modules: (String) throws -> [any LockstatModule], warnings: inout [String]) throws {
        guard case .success(let bytes) = dir.read(summaryName),
              let summary = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any],
              let runs = summary["runs"] as? [[String: Any]] else {
            throw LockstatError("\(dir.file(summaryName)): missing or unreadable: not a repeat set's directory")
        }
        let members = runs.compactMap { r -> Member? in
            guard let name = r["directory"] as? String else { return nil }
            let status = Int32(r["exit_status"] as? Int ?? 1)
            return Member(directory: name, status: status, seconds: r["seconds"] as? Double ?? .nan, counted: r["counted"] as? Bool ?? (status == 0))
        }
        try writeSummary(dir, members: members, warmup: summary["warmup_runs"] as? Int ?? 0, modules: modules, warnings: &warnings)
    }

    /// The runs' folders of a set, counted or not (for parse, graph and report of a set).
    public static func runFolders(_ path: String) -> [String] { members(TestDirectory(path)).map { path + "/" + $0 } }

    /// Modules and their table names in the order the runs have them.
    static func tableNames(_ runs: [[(module: String, results: Results)]]) -> [(String, [String])] {
        var order = [(String, [String])]()
        for run in runs {
            for m in run {
                let i = order.firstIndex { $0.0 == m.module } ?? { order.append((m.module, [])); return order.count - 1 }()
                for t in m.results.tables where !order[i].1.contains(t.name) { order[i].1.append(t.name) }
            }
        }
        return order
    }
}
