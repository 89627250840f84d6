import Foundation
import Glibc

/// What `compare` reads of one side: a single test directory, or a repeat set (`run --repeat
/// N`: DIR/1 … DIR/N, each a complete test directory, and DIR/set.json).
public struct RunGroup {
    public struct Run {
        public let directory: String
        /// The program's run time (run.json), which counts and times are divided by.
        public let seconds: Double
        public let status: Int32
        /// run.json as written; no key for a run without one.
        public let metadata: RunMetadata
        public let results: [(module: String, results: Results)]
    }

    public let path: String
    public let isSet: Bool
    /// The runs that count: those that ended with status 0.
    public let runs: [Run]
    /// Runs left out of the statistics, with their status.
    public let failed: [(directory: String, status: Int32)]

    /// Every run of `path`, its results decoded with the modules `modules(runDirectory)` names.
    public static func load(
        _ path: String, modules: (String) throws -> [any LockstatModule], warnings: inout [String],
        overrides: SettingOverrides = SettingOverrides()
    ) throws -> RunGroup {
        let dir = TestDirectory(path)
        let members = try RunSet.members(dir)
        let isSet = !members.isEmpty
        var runs = [Run]()
        var failed = [(directory: String, status: Int32)]()
        for runPath in isSet ? members.map({ path + "/" + $0 }) : [path] {
            let run = TestDirectory(runPath)
            let metadata = RunMetadata.read(run)
            let status = Int32(clamping: metadata.exitStatus ?? 0)
            guard status == 0 else {
                failed.append((runPath, status))
                continue
            }
            let models = try loadModels(run, modules: try modules(runPath), warnings: &warnings, overrides: overrides)
            runs.append(
                Run(
                    directory: runPath, seconds: metadata.seconds ?? .nan, status: status, metadata: metadata,
                    results: models.map { ($0.module, $0.model.results) }))
        }
        return RunGroup(path: path, isSet: isSet, runs: runs, failed: failed)
    }
}

/// A repeat set's directory: the runs in DIR/1 … DIR/N, the warm-up runs in DIR/warmup-1 …,
/// and the summary in DIR/set.json and DIR/set.pickle.
public enum RunSet {
    public static let summaryName = "set.json"

    /// The most runs a set holds: `--repeat` and `--warmup` stop there, and a set listing more is
    /// refused before its runs are read (compare keeps every run's tables in memory). 10000 runs
    /// take hours at lockstat's shortest; Mann–Whitney's p stops improving long before.
    public static let maxRuns = 10_000
    /// set.json's runs list in bytes at most: about 1 KiB a run (a name of up to 255 bytes, three fields).
    static let maxRunsBytes = 10 << 20

    /// The runs' folder names, in order: from set.json, else the numbered folders that hold a run.
    static func members(_ dir: TestDirectory) throws -> [String] {
        if let listing = try listing(dir) { return listing.runs.map(\.name) }
        let numbered: [(name: String, number: Int)] = dir.folders().compactMap { name in Int(name).map { (name, $0) } }
        let runs = numbered.sorted { $0.number < $1.number }.map(\.name)
            .filter { FileReader.check(dir.file($0 + "/lockstat.config")) == nil }
        guard runs.count <= maxRuns else {
            throw LockstatError(
                "\(dir.path): holds more than \(maxRuns) numbered run folders and no \(summaryName) "
                    + "(the most a set holds)")
        }
        return runs
    }

    public static func isSet(_ path: String) throws -> Bool { !(try members(TestDirectory(path))).isEmpty }

    /// set.json's runs (each a plain name of a folder of the set, listed once) with their
    /// entries, and its warm-up count; nil without a readable set.json.
    static func listing(_ dir: TestDirectory) throws -> (runs: [(name: String, entry: [String: Any])], warmup: Int)? {
        let file = dir.file(summaryName)
        var scanner = SummaryScanner(file: file)
        let read = try dir.withFile(summaryName) { fd -> Result<Void, FileReader.Failure> in
            var piece = [UInt8](repeating: 0, count: 1 << 16)
            while !scanner.finished {
                let n = piece.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                if n < 0 && errno == EINTR { continue }
                if n < 0 { return .failure(.from(errno)) }
                if n == 0 { break }
                for byte in piece[0..<n] { try scanner.take(byte) }
            }
            return .success(())
        }
        guard case .success = read, let runsText = scanner.values["runs"],
            let runs = try? JSONSerialization.jsonObject(with: Data(runsText)) as? [[String: Any]]
        else { return nil }
        let warmup = scanner.values["warmup_runs"].flatMap {
            try? JSONSerialization.jsonObject(with: Data($0), options: .fragmentsAllowed) as? Int
        }
        // A listed run is read, parsed and graphed as the set's: one named outside the set
        // (`../`, a path, a symlink) would be another's run, read by whoever runs compare.
        let folders = Set(dir.folders())
        var seen = Set<String>()
        let named = try runs.enumerated().map { i, entry -> (name: String, entry: [String: Any]) in
            guard let name = entry["directory"] as? String else {
                throw LockstatError("\(file): run \(i + 1) has no directory name")
            }
            guard !name.isEmpty, name != ".", name != "..", !name.contains("/"), !name.contains("\0") else {
                throw LockstatError(
                    "\(file): run '\(name)' is not a plain folder name inside the set (no '/', '.' or '..')")
            }
            guard folders.contains(name) else {
                throw LockstatError("\(file): run '\(name)' is not a folder of the set (missing, or a symlink)")
            }
            guard seen.insert(name).inserted else { throw LockstatError("\(file): run '\(name)' is listed twice") }
            return (name, entry)
        }
        return (named, warmup ?? 0)
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
    public static func writeSummary(
        _ dir: TestDirectory, members: [Member], warmup: Int, modules: (String) throws -> [any LockstatModule],
        warnings: inout [String]
    ) throws {
        var runs = [[(module: String, results: Results)]]()
        for m in members where m.counted {
            let run = TestDirectory(dir.file(m.directory))
            runs.append(
                try loadModels(run, modules: try modules(run.path), warnings: &warnings).map {
                    ($0.module, $0.model.results)
                })
        }
        var tables = [(String, PyValue)]()
        for (module, names) in tableNames(runs) {
            var entries = [(String, PyValue)]()
            for name in names {
                let perRun = runs.map { $0.first { $0.module == module }?.results.tables.first { $0.name == name } }
                guard let schema = perRun.compactMap({ $0 }).first else { continue }
                var keys = [[String]]()
                var seen = Set<[String]>()
                for table in perRun.compactMap({ $0 }) {
                    for row in table.rows where seen.insert(row.key(in: table)).inserted {
                        keys.append(row.key(in: table))
                    }
                }
                let rows = keys.map { labels -> PyValue in
                    let metrics = schema.metrics.enumerated().map { k, column -> (String, PyValue) in
                        let values = perRun.map { table -> Double in
                            table.flatMap { t in t.rows.first { $0.key(in: t) == labels } }?.values[k]
                                ?? (column.kind == .count || column.kind == .time ? 0 : .nan)
                        }
                        return (
                            column.name,
                            .stringDict([
                                ("values", .series(values)),
                                ("median", .float(Statistics.median(values.filter { !$0.isNaN }))),
                            ])
                        )
                    }
                    return .stringDict([("labels", .strings(labels)), ("metrics", .stringDict(metrics))])
                }
                entries.append(
                    (
                        name,
                        .stringDict([
                            ("labels", .strings(schema.identity.map { schema.labels[$0] })),
                            ("metrics", .strings(schema.metrics.map(\.name))),
                            ("units", .strings(schema.metrics.map(\.unit))), ("rows", .list(rows)),
                        ])
                    ))
            }
            tables.append((module, .stringDict(entries)))
        }
        let summary = PyValue.stringDict([
            (SamplesFormat.key, .int(1)),
            (
                "runs",
                .list(
                    members.map { m in
                        .stringDict([
                            ("directory", .string(m.directory)), ("exit_status", .int(Int64(m.status))),
                            ("seconds", .float(m.seconds)),
                            ("counted", .bool(m.counted)),
                        ])
                    })
            ),
            ("warmup_runs", .int(Int64(warmup))),
            ("tables", .stringDict(tables)),
        ])
        try dir.write(summaryName, JSON.encode(summary))
        try dir.write("set.pickle", Pickle.encode(summary))
        try dir.addToManifest([summaryName, "set.pickle"])
    }

    /// The summary again from the runs as they are now (after `lockstat parse` of each).
    public static func rewriteSummary(
        _ dir: TestDirectory, modules: (String) throws -> [any LockstatModule], warnings: inout [String]
    ) throws {
        guard let listing = try listing(dir) else {
            throw LockstatError("\(dir.file(summaryName)): missing or unreadable: not a repeat set's directory")
        }
        let members = listing.runs.map { name, r -> Member in
            let status = Int32(r["exit_status"] as? Int ?? 1)
            return Member(
                directory: name, status: status, seconds: r["seconds"] as? Double ?? .nan,
                counted: r["counted"] as? Bool ?? (status == 0))
        }
        try writeSummary(dir, members: members, warmup: listing.warmup, modules: modules, warnings: &warnings)
    }

    /// The runs' folders of a set, counted or not (for parse, graph and report of a set).
    public static func runFolders(_ path: String) throws -> [String] {
        try members(TestDirectory(path)).map { path + "/" + $0 }
    }

    /// Modules and their table names in the order the runs have them.
    static func tableNames(_ runs: [[(module: String, results: Results)]]) -> [(String, [String])] {
        var order = [(String, [String])]()
        for run in runs {
            for m in run {
                let i =
                    order.firstIndex { $0.0 == m.module }
                    ?? {
                        order.append((m.module, []))
                        return order.count - 1
                    }()
                for t in m.results.tables where !order[i].1.contains(t.name) { order[i].1.append(t.name) }
            }
        }
        return order
    }
}

/// Reads set.json's top-level "runs" and "warmup_runs" a byte at a time, keeping only their
/// text: the tables after them grow with rows × runs and are never held. Refuses a runs list
/// of more than `RunSet.maxRuns` entries or `RunSet.maxRunsBytes` bytes as soon as it is one.
struct SummaryScanner {
    let file: String
    /// The kept values' JSON text, by key, once each is whole.
    private(set) var values = [String: [UInt8]]()
    private var depth = 0, inString = false, escaped = false, inValue = false, closed = false
    private var key = [UInt8](), keyTooLong = false
    private var kept: (key: String, text: [UInt8], budget: Int)?
    private var runs = 0
    private static let wanted = ["runs": RunSet.maxRunsBytes, "warmup_runs": 32]

    init(file: String) { self.file = file }

    /// Both values read, or the top-level object closed: the rest need not be read.
    var finished: Bool { values.count == Self.wanted.count || closed }

    mutating func take(_ byte: UInt8) throws {
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        if inString {
            if escaped {
                escaped = false
            } else if byte == backslash {
                escaped = true
            } else if byte == quote {
                inString = false
            }
            if depth == 1 && !inValue && inString {
                if key.count < 16 { key.append(byte) } else { keyTooLong = true }
            }
            try keep(byte)
            return
        }
        switch byte {
        case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
            return
        case quote:
            inString = true
            if depth == 1 && !inValue {
                key = []
                keyTooLong = false
            }
        case UInt8(ascii: ":") where depth == 1 && !inValue:
            inValue = true
            let name = String(decoding: key, as: UTF8.self)
            if !keyTooLong, let budget = Self.wanted[name] { kept = (name, [], budget) }
            return
        case UInt8(ascii: ",") where depth == 1 && inValue, UInt8(ascii: "}") where depth == 1 && inValue:
            inValue = false
            if let done = kept { values[done.key] = done.text }
            kept = nil
            if byte == UInt8(ascii: "}") {
                depth = 0
                closed = true
            }
            return
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            depth += 1
            if kept?.key == "runs" {
                // The list is depth 2, its entries depth 3, holding names, numbers and booleans.
                guard depth <= 3 else {
                    throw LockstatError("\(file): runs: an entry holds more than names and numbers")
                }
                if depth == 3 {
                    runs += 1
                    guard runs <= RunSet.maxRuns else {
                        throw LockstatError("\(file): lists more than \(RunSet.maxRuns) runs (the most a set holds)")
                    }
                }
            }
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
            depth -= 1
        default:
            break
        }
        try keep(byte)
    }

    private mutating func keep(_ byte: UInt8) throws {
        guard kept != nil else { return }
        kept!.text.append(byte)
        guard kept!.text.count > kept!.budget else { return }
        let (key, budget) = (kept!.key, kept!.budget)
        throw LockstatError(
            key == "runs"
                ? "\(file): its runs list is longer than \(budget >> 20) MB (a set holds at most \(RunSet.maxRuns) runs)"
                : "\(file): \(key) is longer than \(budget) bytes")
    }
}
