import Foundation
import XCTest
import LockstatCore
import LockstatModules

/// A module written only against the public protocol, as a new module's folder would be: it
/// samples /proc/loadavg, and its analysis makes a model (a table and a series), a metric family
/// and nothing else. Not shipped: the test registers it as the registry would (one more entry).
struct LoadAverageModule: TypedModule {
    let name = "loadavg"
    let summary = "load averages from /proc/loadavg"
    let configKeys: [String: ConfigValue] = [:]
    let samplesCheaply = true
    let exampleSettings = ["intervall 1"]
    static let file = "/proc/loadavg"

    func unavailableReason(_ system: SystemRoot) -> String? {
        FileReader.check(system.path(Self.file)).map { "\(system.path(Self.file)): \($0.reason)" }
    }

    func probe(_ system: SystemRoot) -> [ProbeCheck] {
        [ProbeCheck(name: Self.file, ok: unavailableReason(system) == nil, detail: "the three load averages")]
    }

    func presampling(_ context: RecordingContext) throws -> any Recorder {
        try FileSnapshotRecorder(paths: [context.system.path(Self.file)], log: context.log)
    }

    var analysisParts: AnalysisParts { [.model, .metrics] }

    func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        var times = [Double](), averages = [[Double]]()
        try log.snapshots().read { record, bytes in
            let fields = String(decoding: bytes, as: UTF8.self).split(separator: " ").prefix(3).compactMap { Double($0) }
            guard fields.count == 3 else { return }
            times.append(log.seconds(record))
            averages.append(fields)
        }
        let model = LoadAverageModel(time: times, averages: averages)
        let last = averages.last ?? [.nan, .nan, .nan]
        let family = MetricFamily(name: "lockstat_test_load_average", kind: .gauge, help: "Load average at the run's end",
                                  labels: ["window"], points: zip(LoadAverageModel.windows, last).map { MetricPoint(labels: [$0], value: $1) })
        return ModuleAnalysis(parsed: parts.parts.contains(.model) ? ParsedModule(model: model) : nil,
                              metricFamilies: parts.parts.contains(.metrics) ? [family] : [])
    }

    func decode(_ entry: PyValue) throws -> LoadAverageModel {
        guard let time = entry["time"]?.doubles, let rows = entry["averages"]?.listItems?.map({ $0.doubles ?? [] }) else {
            throw LockstatError("loadavg: entry without time or averages")
        }
        return LoadAverageModel(time: time, averages: rows)
    }

    func plot(_ model: LoadAverageModel, into directory: TestDirectory) throws -> [String] {
        try directory.write("loadavg.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"><title>load</title></svg>\n")
        return ["loadavg.svg"]
    }

    var tableSchemas: [ResultTable] { [LoadAverageModel.table] }
}

struct LoadAverageModel: ModuleModel {
    static let windows = ["1min", "5min", "15min"]
    static let table = ResultTable(name: "averages", metrics: [ResultColumn("load", "load", unit: "1", kind: .gauge)],
                                   labels: ["window"], defaultSort: "load")
    let time: [Double]
    let averages: [[Double]]

    var entry: PyValue {
        .stringDict([("time", .series(time)), ("averages", .list(averages.map { .series($0) }))])
    }

    var results: Results {
        var table = Self.table
        let last = averages.last ?? []
        table.rows = Self.windows.enumerated().map { i, window in ResultRow(labels: [window], values: [i < last.count ? last[i] : .nan]) }
        return Results(tables: [table], time: time, series: [ResultSeries(name: "1min", unit: "1", values: averages.map { $0[0] })])
    }
}

/// "A new module needs files in its own folder and one line in the registry": the module above,
/// in a registry of the built-in modules and it, gets run, parse, report, the page, compare,
/// CSV and OpenMetrics export, the default config and doctor, through the same calls the CLI
/// makes and no code of the core that knows it.
final class ModuleProtocolTests: XCTestCase {
    let registry = BuiltInModules.all + [LoadAverageModule()]

    func run(_ dir: String, config: Config) throws {
        var request = RunRequest(directory: dir, command: ["sleep", "0.3"], config: config, system: SystemRoot("/"))
        request.quiet = true
        XCTAssertEqual(try RunPipeline.run(request, modules: registry), 0)
    }

    func testANewModuleGetsEveryOutputFromTheRegistryAlone() throws {
        guard FileReader.check(LoadAverageModule.file) == nil else { throw XCTSkip("SKIPPED: no readable /proc/loadavg") }
        let root = temporaryDirectory()
        let catalog = ModuleCatalog(registry)
        let config = try ConfigParser.parse("modules loadavg stat\nintervall 0.05\nloadavg.intervall 0.02\n",
                                            file: "test.config", catalog: catalog)
        XCTAssertEqual(config.modules, ["loadavg", "stat"])
        // The default config lists it and its example, from the module itself.
        XCTAssertTrue(ConfigParser.defaultText(catalog).contains("(stat diskstats lock_stat contention futex oprofile loadavg)"))
        XCTAssertTrue(ConfigParser.defaultText(catalog).contains("# loadavg.intervall 1\n"))

        try run(root + "/a", config: config)
        try run(root + "/b", config: config)
        let a = TestDirectory(root + "/a")

        // parse (inside run): samples.pickle has its entry, decoded back by its own decode.
        var warnings = [String]()
        let models = try loadModels(a, modules: registry, warnings: &warnings)
        XCTAssertEqual(warnings, [])
        let model = try XCTUnwrap(models.first { $0.module == "loadavg" }?.model as? LoadAverageModel)
        XCTAssertGreaterThan(model.time.count, 3, "samples at 0.02 s over 0.3 s")

        // report: its table, with its three rows.
        let report = try TableReport(modules: models.map { ($0.module, $0.model.results) }).render(sort: "load", by: nil, top: 20)
        for window in LoadAverageModel.windows { XCTAssertTrue(report.contains(window), report) }

        // the page (inside run, and again through graph's step): its section and its graph.
        let graphed = try GraphStep.run(a, modules: registry)
        XCTAssertEqual(graphed.warnings, [])
        XCTAssertTrue(graphed.files.contains("loadavg.svg"))
        guard case .success(let page) = a.read("index.html") else { return XCTFail("no index.html") }
        XCTAssertTrue(String(decoding: page, as: UTF8.self).contains("id=\"m-loadavg\""))

        // compare: its table's rows matched between the two runs.
        let sides = try [root + "/a", root + "/b"].map { path in
            try RunGroup.load(path, modules: { _ in self.registry }, warnings: &warnings)
        }
        let compared = ComparisonReport(Comparison(sides[0], sides[1]), top: 20, ascii: true).text
        XCTAssertTrue(compared.contains("loadavg"), compared)
        XCTAssertTrue(compared.contains("15min"), compared)

        // export: CSV from its table, OpenMetrics from its analysis' metric family.
        let csv = try ExportStep.files(a, format: .csv, modules: registry)
        let table = try XCTUnwrap(csv.first { $0.name == "loadavg_averages.csv" }, "\(csv.map(\.name))")
        XCTAssertTrue(String(decoding: table.bytes, as: UTF8.self).hasPrefix("window,load (count)\r\n1min,"))
        XCTAssertTrue(try ExportStep.openMetrics(a, modules: registry).contains("lockstat_test_load_average{window=\"5min\"}"))
        // pprof: no module of the run records stacks; the error lists those of the registry that do.
        XCTAssertThrowsError(try ExportStep.files(a, format: .pprof, modules: registry)) {
            XCTAssertEqual("\($0)", "\(a.path): no call stacks: the run had none of the modules that record them (contention, futex, oprofile)")
        }

        // doctor: listed after the built-in modules with its own probe, its verdict deciding.
        try "modules loadavg\n".write(toFile: root + "/c.config", atomically: false, encoding: .utf8)
        let set = try ModuleSet(config: .file(root + "/c.config"), environment: [:], registry: registry)
        let doctor = Doctor(config: Config(modules: ["loadavg"]), modules: set)
        XCTAssertEqual(doctor.verdicts.map(\.module).prefix(7), ["stat", "diskstats", "lock_stat", "contention", "futex", "oprofile", "loadavg"])
        XCTAssertTrue(doctor.ok)
        XCTAssertTrue(doctor.text.contains("loadavg         ok  (in the config)\n    ✓ /proc/loadavg: the three load averages\n"), doctor.text)
    }

    /// A module with no probe of its own: doctor shows the module's own check, which decides.
    func testDoctorFallsBackOnTheModulesOwnCheck() throws {
        struct Absent: LockstatModule {
            let name = "absent"
            let summary = "needs a file no system has"
            let configKeys: [String: ConfigValue] = [:]
            let samplesCheaply = true
            func unavailableReason(_ system: SystemRoot) -> String? { "/proc/absent: no such file" }
            func presampling(_ context: RecordingContext) throws -> any Recorder { throw LockstatError("unavailable") }
            func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis { ModuleAnalysis() }
            func model(decoding entry: PyValue, config: Config) throws -> any ModuleModel { throw LockstatError("no model") }
            func plot(_ model: any ModuleModel, into directory: TestDirectory) throws -> [String] { [] }
        }
        let root = temporaryDirectory()
        try "modules absent\n".write(toFile: root + "/c.config", atomically: false, encoding: .utf8)
        let set = try ModuleSet(config: .file(root + "/c.config"), environment: [:], registry: BuiltInModules.all + [Absent()])
        let doctor = Doctor(config: Config(modules: ["absent"]), modules: set)
        XCTAssertFalse(doctor.ok)
        XCTAssertTrue(doctor.text.contains("absent          NO  (in the config)\n    ✗ module's own check: /proc/absent: no such file\n"),
                      doctor.text)
    }
}

/// The CLI leaves checks to the core and passes a set's command line through.
final class CommandLineThroughCoreTests: XCTestCase {
    /// --interval is checked by the config's own check, in its words (ArgumentParser's before).
    func testIntervalOptionGetsTheConfigsCheck() throws {
        let dir = temporaryDirectory()
        let r = try Lockstat.run(["--interval", "abc", dir + "/run", "true"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.err, "lockstat: --interval: needs one number, got 'abc'\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
    }

    /// A set's runs are its own command line with --set-member NAME; a name that is no run of a
    /// set (one that could lead out of DIR) is refused before anything is made.
    func testSetMemberNamesOnlyARunOfTheSet() throws {
        let dir = temporaryDirectory()
        for name in ["../x", "1/../../x", "0", "warmup-", ""] {
            let r = try Lockstat.run(["--set-member", name, dir + "/set", "true"])
            XCTAssertEqual(r.status, 2, name)
            XCTAssertEqual(r.err, "lockstat: --set-member: not a run of a set: '\(name)'\n")
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        // Every option of the set reaches its runs: here --interval and --modules.
        let set = try Lockstat.run(["--modules", "stat", "--interval", "0.05", "--repeat", "2", dir + "/set", "true"])
        XCTAssertEqual(set.status, 0, set.err)
        for run in ["1", "2"] {
            let config = try String(contentsOfFile: dir + "/set/\(run)/lockstat.config", encoding: .utf8)
            XCTAssertTrue(config.contains("\nmodules stat\nintervall 0.05\n"), config)
        }
    }

    /// A samples.pickle copied without its lockstat.config: graph draws it with the registry's
    /// modules and the default config, as report reads it (graph refused it before).
    func testGraphOfAPickleWithoutItsConfig() throws {
        let dir = temporaryDirectory()
        XCTAssertEqual(try Lockstat.run(["--modules", "stat", "--interval", "0.05", dir + "/run", "sleep", "0.2"]).status, 0)
        try FileManager.default.removeItem(atPath: dir + "/run/lockstat.config")
        let r = try Lockstat.tool(["graph", dir + "/run"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/stat_cpu_all.svg"))
        let parse = try Lockstat.tool(["parse", dir + "/run"])
        XCTAssertEqual(parse.status, 1)
        XCTAssertEqual(parse.err, "lockstat: \(dir)/run/lockstat.config: missing: not a lockstat test directory\n")
    }
}

