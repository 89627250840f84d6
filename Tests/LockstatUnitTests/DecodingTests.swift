import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// samples.pickle read back strictly: each module's entry decodes into the model that wrote it,
/// and a missing, mistyped or renamed key is an error naming it (a warning naming the file and
/// module in `report` and `graph`), not an empty table or graph.
final class DecodingTests: XCTestCase {
    /// `value` through a pickle and back, as `graph` reads it.
    func pickled(_ value: PyValue) throws -> PyValue { try Unpickler.decode(Pickle.encode(value)) }

    func contentionModel() -> ContentionModel {
        let rates = ContentionModel.Rates(contentions: [.nan, 4, 2], waitMicroseconds: [.nan, 30, 10])
        let row = ContentionModel.Row(key: "do_work+0x10", type: "spinlock", contended: 5, total: 500, max: 200, min: 50, avg: 100)
        return ContentionModel(time: [0, 1, 2], all: rates, topCallers: [("do_work+0x10", rates)], callers: [row], locks: [row], tasks: [row],
                               owners: [.init(owner: "a[1]", lock: "mmap_lock", contended: 2, total: 70)],
                               histograms: [("all", [(lowerNanoseconds: 64, count: 3), (lowerNanoseconds: 128, count: 2)])],
                               folded: [(stack: "a;b;spinlock", waited: 500)], lost: 1,
                               cost: .init(mode: "bpf", counters: [("contentions", 5), ("lost", 1), ("cpus", 2)]), unpaired: 0, unfinished: 2)
    }

    func profileModel() -> ProfileModel {
        let row = ProfileModel.Row(symbol: "spin", image: "/bin/x", kind: "program", samples: 9, samplesPerCPU: [4, 5], periodSum: 9e6,
                                   percent: 90, percentPerCPU: [40, 50])
        return ProfileModel(cpus: [0, 1], cpuModel: "a CPU", event: "cpu-clock", scope: "system", randomPeriod: true, frequency: 99,
                            totalSamples: 10, samplesPerCPU: [5, 5], periodSum: 1e7, rows: [row], images: [row],
                            processes: [.init(name: "x", samples: 9, periodSum: 9e6, percent: 90)], time: [0, 0.5],
                            top: [("spin [x]", [.nan, 90])], folded: [(stack: "x;main;spin", samples: 9)],
                            frameKinds: [(frame: "spin", kind: "program")], lost: 0)
    }

    /// Entries of every built-in module, as their parse or model writes them.
    func entries() throws -> [(module: any LockstatModule, entry: PyValue)] {
        let stat = String(decoding: try Fixtures.bytes("stat/vm-6.18-2cpu.txt"), as: UTF8.self)
        let disks = String(decoding: try Fixtures.bytes("diskstats/vm-6.18-20field.txt"), as: UTF8.self)
        let idle = try Fixtures.bytes("lock_stat/vm-6.1-idle.txt"), workload = try Fixtures.bytes("lock_stat/vm-6.1-workload.txt")
        return [
            (StatModule(), try StatModule().parse(try rawLog(snapshots: [Array(stat.utf8), Array(stat.utf8)], times: [0, 1]),
                                                  config: Config(modules: ["stat"])).data),
            (DiskstatsModule(), try DiskstatsModule().parse(try rawLog(snapshots: [Array(disks.utf8), Array(disks.utf8)], times: [0, 1]),
                                                            config: Config(modules: ["diskstats"])).data),
            (LockStatModule(), try LockStatModule().parse(try rawLog(snapshots: [idle, workload], times: [0, 2]),
                                                          config: Config(modules: ["lock_stat"])).data),
            (ContentionModule(), contentionModel().entry),
            (ProfileModule(), profileModel().entry),
        ]
    }

    func testEveryModulesEntryDecodesIntoTheModelThatWroteIt() throws {
        for (module, entry) in try entries() {
            let model = try module.model(decoding: try pickled(entry), config: Config(modules: [module.name]))
            XCTAssertEqual(model.entry, entry, module.name)
        }
    }

    func decodingError(_ module: any LockstatModule, _ entry: PyValue) -> String? {
        do {
            _ = try module.model(decoding: try pickled(entry), config: Config(modules: [module.name]))
            return nil
        } catch { return "\(error)" }
    }

    /// `entry` with the dict at `path` (keys, then list indices as strings) changed by `change`.
    func changing(_ entry: PyValue, at path: [String], _ change: ([(PyValue, PyValue)]) -> [(PyValue, PyValue)]) -> PyValue {
        guard let first = path.first else {
            guard case .dict(let pairs) = entry else { return entry }
            return .dict(change(pairs))
        }
        switch entry {
        case .dict(let pairs): return .dict(pairs.map { k, v in (k, k == .string(first) ? changing(v, at: Array(path.dropFirst()), change) : v) })
        case .list(let items): return .list(items.enumerated().map { String($0) == first ? changing($1, at: Array(path.dropFirst()), change) : $1 })
        default: return entry
        }
    }

    func renaming(_ entry: PyValue, at path: [String] = [], _ old: String, to new: String) -> PyValue {
        changing(entry, at: path) { $0.map { k, v in (k == .string(old) ? .string(new) : k, v) } }
    }

    func retyping(_ entry: PyValue, at path: [String] = [], _ key: String, to value: PyValue) -> PyValue {
        changing(entry, at: path) { $0.map { k, v in (k, k == .string(key) ? value : v) } }
    }

    func testARenamedKeyIsAnErrorNamingIt() throws {
        let contention = contentionModel().entry
        XCTAssertEqual(decodingError(ContentionModule(), renaming(contention, at: ["callers", "0"], "total_wait_ns", to: "wait_ns")),
                       "callers[0]: key 'total_wait_ns' missing")
        XCTAssertEqual(decodingError(ContentionModule(), renaming(contention, "time", to: "times")), "key 'times' unknown")
        XCTAssertEqual(decodingError(ContentionModule(), renaming(contention, at: ["owners", "0"], "owner", to: "holder")),
                       "owners[0]: key 'owner' missing")
        XCTAssertEqual(decodingError(ContentionModule(), renaming(contention, at: ["cost"], "mode", to: "kind")), "cost: key 'mode' missing")
        let entries = try entries()
        XCTAssertEqual(decodingError(StatModule(), renaming(entries[0].entry, at: ["cpu", "all"], "iowait", to: "wa")),
                       "cpu: all: key 'iowait' missing")
        XCTAssertEqual(decodingError(DiskstatsModule(), renaming(entries[1].entry, at: ["devices", "vda"], "%util", to: "util")),
                       "devices: vda: key '%util' missing")
        XCTAssertEqual(decodingError(LockStatModule(), renaming(entries[2].entry, at: ["top", "0"], "waittime-total", to: "wait")),
                       "top[0]: key 'waittime-total' missing")
        XCTAssertEqual(decodingError(ProfileModule(), renaming(profileModel().entry, at: ["rows", "0"], "symbol", to: "sym")),
                       "rows[0]: key 'symbol' missing")
    }

    func testAMistypedKeyIsAnErrorNamingItAndTheType() throws {
        let entries = try entries()
        XCTAssertEqual(decodingError(StatModule(), retyping(entries[0].entry, "n_cpu", to: .string("2"))),
                       "key 'n_cpu' is a string, not an integer")
        XCTAssertEqual(decodingError(ContentionModule(), retyping(contentionModel().entry, at: ["callers", "0"], "contended", to: .float(2.5))),
                       "callers[0]: key 'contended' is a number, not an integer")
        XCTAssertEqual(decodingError(ContentionModule(), retyping(contentionModel().entry, "time", to: .list([.string("a")]))),
                       "key 'time' is a list, not a list of numbers")
        XCTAssertEqual(decodingError(ProfileModule(), retyping(profileModel().entry, "folded", to: .list([.int(3)]))),
                       "folded[0]: is an integer, not a tuple of a stack and its samples")
    }

    /// A key the entry leaves out is nothing recorded: entries of format 2 written before
    /// `over_run` existed, and a table alone made by hand, decode.
    func testAKeyLeftOutIsNothingRecorded() throws {
        let stat = try entries()[0].entry
        let older = changing(stat, at: []) { $0.filter { $0.0 != .string("over_run") } }
        let model = try StatModule().decode(try pickled(older))
        XCTAssertTrue(model.overRun.isEmpty)
        let callers = PyValue.stringDict([("callers", try contentionModel().entry.required("callers", .list).first.map { .list([$0]) }!)])
        let alone = try ContentionModule().decode(try pickled(callers))
        XCTAssertEqual(alone.results.tables[0].rows.map(\.labels), [["spinlock", "do_work+0x10"]])
        XCTAssertTrue(alone.time.isEmpty && alone.owners.isEmpty)
    }

    /// What `report` and `graph` get: a warning naming the file, the module and the key.
    func testLoadModelsNamesTheFileModuleAndKey() throws {
        let dir = TestDirectory(temporaryDirectory())
        try dir.open(create: true)
        try dir.write("lockstat.config", "modules contention\n")
        let renamed = renaming(contentionModel().entry, at: ["callers", "0"], "total_wait_ns", to: "wait_ns")
        let samples = PyValue.stringDict([(SamplesFormat.key, .int(Int64(SamplesFormat.version))), ("contention", renamed)])
        try dir.write("samples.pickle", Pickle.encode(samples))
        var warnings = [String]()
        let models = try loadModels(dir, modules: BuiltInModules.all, warnings: &warnings)
        XCTAssertTrue(models.isEmpty)
        XCTAssertEqual(warnings, ["\(dir.path)/samples.pickle: contention: callers[0]: key 'total_wait_ns' missing"])
    }

    /// Format 1 (no `_lockstat_format`: before the entries' keys settled) is not guessed at.
    func testAFormatOnePickleIsRefusedNamingParse() throws {
        let dir = TestDirectory(temporaryDirectory())
        try dir.open(create: true)
        try dir.write("lockstat.config", "modules contention\n")
        try dir.write("samples.pickle", Pickle.encode(.stringDict([("contention", contentionModel().entry)])))
        var warnings = [String]()
        XCTAssertThrowsError(try loadModels(dir, modules: BuiltInModules.all, warnings: &warnings)) {
            XCTAssertEqual("\($0)", "\(dir.path)/samples.pickle: format 1, written by an older lockstat: "
                                    + "`lockstat parse \(dir.path)` writes it again from the raw logs")
        }
    }
}

/// A metric's unit read from its text, and written back as it was.
final class MetricUnitTests: XCTestCase {
    func testEveryUnitTextReadsAndWritesBackUnchanged() {
        let known: [(String, MetricUnit)] = [("1", .count), ("", .unspecified), ("ns", .nanoseconds), ("us", .microseconds),
                                             ("ms", .milliseconds), ("s", .seconds), ("%", .percent), ("1/s", .other("1/s"))]
        for (text, unit) in known {
            XCTAssertEqual(MetricUnit(text), unit, text)
            XCTAssertEqual(MetricUnit(text).text, text)
        }
        let tables = ContentionModel.tables + [LockStatModel.classTable, StatModel.cpuTable, ProfileModel.symbolTable, ProfileModel.processTable]
        for column in tables.flatMap(\.metrics) {
            XCTAssertEqual(ResultColumn(column.name, column.title, unit: column.unit, kind: column.kind).unit, column.unit)
        }
        XCTAssertEqual(ContentionModel.waitColumns.map(\.measure), [.count, .nanoseconds, .nanoseconds, .nanoseconds, .nanoseconds])
    }
}

/// run.json: one Codable type writes it and reads it back.
final class RunJSONTests: XCTestCase {
    func sample() -> RunMetadata {
        var m = RunMetadata()
        m.runFormat = 1
        m.command = ["sleep", "1"]
        m.started = "2026-12-01T21:11:54.123Z"
        m.seconds = 1.0123
        m.exitStatus = 3
        m.kernelRelease = "6.18.0"
        m.cpuModel = "a CPU"
        m.cpus = 2
        m.config = "modules stat\n"
        m.modules = [.init(name: "stat", intervalSeconds: 0.1, samples: 10, missedTicks: 1, failedSamples: 0, failedWrites: 0)]
        m.skipped = [.init(module: "lock_stat", reason: "kernel built without CONFIG_LOCK_STAT")]
        m.warnings = ["a warning"]
        m.notes = []
        return m
    }

    /// The bytes the literal-keyed writer wrote: keys in their order, None as null.
    func testWrittenAsBeforeKeyForKey() throws {
        let before = PyValue.stringDict([
            ("run_format", .int(1)), ("command", .list([.string("sleep"), .string("1")])), ("started", .string("2026-12-01T21:11:54.123Z")),
            ("seconds", .float(1.0123)), ("exit_status", .int(3)), ("kernel_release", .string("6.18.0")), ("cpu_model", .string("a CPU")),
            ("cpus", .int(2)), ("proc_root", .none), ("config", .string("modules stat\n")),
            ("modules", .list([.stringDict([("name", .string("stat")), ("interval_s", .float(0.1)), ("samples", .int(10)),
                                            ("missed_ticks", .int(1)), ("failed_samples", .int(0)), ("failed_writes", .int(0))])])),
            ("skipped", .list([.stringDict([("module", .string("lock_stat")), ("reason", .string("kernel built without CONFIG_LOCK_STAT"))])])),
            ("warnings", .list([.string("a warning")])), ("notes", .list([])),
        ])
        XCTAssertEqual(JSON.encode(try sample().value), JSON.encode(before))
    }

    func testReadBackAsWritten() throws {
        let dir = TestDirectory(temporaryDirectory())
        try dir.open(create: true)
        var replay = sample()
        replay.procRoot = "/captures/a"
        try dir.write(RunMetadata.fileName, JSON.encode(try replay.value))
        let read = RunMetadata.read(dir)
        XCTAssertEqual(JSON.encode(try read.value), JSON.encode(try replay.value))
        XCTAssertEqual(read.procRoot, "/captures/a")
        XCTAssertEqual(read.modules?.first?.intervalSeconds, 0.1)
    }

    /// A run.json with some keys (a run cut short, one made by hand) reads as what it has; none, as no key.
    func testAPartialOrMissingRunJSONReadsAsWhatItHas() throws {
        let dir = TestDirectory(temporaryDirectory())
        try dir.open(create: true)
        XCTAssertNil(RunMetadata.read(dir).seconds)
        try dir.write(RunMetadata.fileName, #"{"skipped": [{"module": "lock_stat", "reason": "no"}], "seconds": 2}"#)
        let read = RunMetadata.read(dir)
        XCTAssertEqual(read.skipped?.map(\.module), ["lock_stat"])
        XCTAssertEqual(read.seconds, 2)
        XCTAssertNil(read.command)
        XCTAssertEqual(ParseStep.skippedModules(dir), ["lock_stat"])
    }
}
