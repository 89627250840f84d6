import Glibc

/// A module: the original's five operations (presampling, sample, postsampling, parse, plot),
/// a name, and an availability check that explains itself.
public protocol LockstatModule: Sendable {
    var name: String { get }
    /// Other names a config may use for the module (`profile` for `oprofile`).
    var aliases: [String] { get }
    /// One line for `lockstat modules`.
    var summary: String { get }
    /// Keys this module understands as `<module>.<key>` besides `intervall`, with the values
    /// each takes: the config parser checks them, so a bad one is an error naming its line.
    var configKeys: [String: ConfigValue] { get }
    /// True when a sample is a few preads of procfs files that cannot block for long: such
    /// modules with the same interval share one sampling thread (one wake-up per tick).
    /// False gives the module a thread of its own, so it can never delay another's samples.
    var samplesCheaply: Bool { get }
    /// The module's interval when the config gives it none of its own (nil: the global one).
    var defaultInterval: Double? { get }
    /// The same for a given config and system, where it depends on them (a mode's own interval).
    func defaultInterval(for config: Config, on system: SystemRoot) -> Double?
    /// nil when the module can run here, else why not ("needs root", "no /proc/lock_stat").
    func unavailableReason(_ system: SystemRoot) -> String?
    /// presampling: prepare, and return what takes a sample on every tick.
    func presampling(_ context: RecordingContext) throws -> any Recorder
    /// The parts `analyze` can make besides the model (metric families, stack profiles).
    var analysisParts: AnalysisParts { get }
    /// The one reading of the raw log: the model (parse), the metric families (a finished
    /// run's totals as serve would expose them) and the stack profiles (pprof), as `parts` asks.
    func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis
    /// The module's entry of samples.pickle read back into its typed results (`lockstat graph`,
    /// `report`), with the run's config snapshot.
    func model(decoding entry: PyValue, config: Config) throws -> any ModuleModel
    /// Typed results → graphs written through `directory`; returns the file names written.
    func plot(_ model: any ModuleModel, into directory: TestDirectory) throws -> [String]
    /// The module's tables, without rows: what `report --sort` and `--by` can name.
    var tableSchemas: [ResultTable] { get }
    /// nil when `modules auto` (the built-in default) samples the module here with this config;
    /// else, in one line, why not and what would enable it: run prints it, doctor lists it.
    func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String?
    /// Example `<module>.<key> value` lines for the built-in default config's comments.
    var exampleSettings: [String] { get }
    /// Why `lockstat serve` does not run the module, for one that is no `ServedModule`.
    var notServedReason: String { get }
    /// What `lockstat doctor` lists under the module: the facts behind its verdict, each with
    /// what to change. The module's own `unavailableReason` still decides.
    func probe(_ system: SystemRoot) -> [ProbeCheck]
}

/// What an analysis makes besides the model, which every module makes.
public struct AnalysisParts: OptionSet, Sendable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    public static let model = AnalysisParts(rawValue: 1)
    /// Metric families: `lockstat export --format openmetrics`.
    public static let metrics = AnalysisParts(rawValue: 2)
    /// Stack profiles: `lockstat export --format pprof`.
    public static let stacks = AnalysisParts(rawValue: 4)
}

/// What a caller of `analyze` wants: parts a module cannot make come back empty.
public struct AnalysisRequest: Sendable {
    public var parts: AnalysisParts
    /// Raw kernel addresses may be label values of the metric families (`serve.addresses yes`).
    public var addresses: Bool

    public init(_ parts: AnalysisParts, addresses: Bool = false) {
        self.parts = parts
        self.addresses = addresses
    }
}

/// One reading of a module's raw log; the parts not asked for are nil or empty.
public struct ModuleAnalysis {
    /// The model with its warnings, files and notes (asked for with `.model`).
    public var parsed: ParsedModule?
    public var metricFamilies: [MetricFamily]
    /// Each profile with the stem of its file name ("cpu", "contention").
    public var stackProfiles: [(name: String, profile: StackProfile)]

    public init(
        parsed: ParsedModule? = nil, metricFamilies: [MetricFamily] = [],
        stackProfiles: [(name: String, profile: StackProfile)] = []
    ) {
        self.parsed = parsed
        self.metricFamilies = metricFamilies
        self.stackProfiles = stackProfiles
    }
}

/// One fact `lockstat doctor` lists under a module.
public struct ProbeCheck: Sendable {
    public var name: String
    public var ok: Bool
    public var detail: String
    /// What to change, when not ok.
    public var fix: String?

    public init(name: String, ok: Bool, detail: String, fix: String? = nil) {
        self.name = name
        self.ok = ok
        self.detail = detail
        self.fix = fix
    }
}

/// What a module's parse makes: typed results, which its plot reads, and which the core stores
/// and turns into every generic output.
public protocol ModuleModel {
    /// The module's entry in samples.pickle and samples.json, with the documented keys.
    var entry: PyValue { get }
    /// The same results in the generic form (tables and series).
    var results: Results { get }
    /// The module's part of the summary at the end of a run (and at the top of its page): its
    /// top findings in lines of at most `width` columns; nil when it has none to show.
    func summary(width: Int) -> SummaryPart?
}

extension ModuleModel {
    public func summary(width: Int) -> SummaryPart? { nil }
}

/// A module with a model type of its own: decode and plot are written against it, and the
/// protocol's `any ModuleModel` calls reach them through this extension.
public protocol TypedModule: LockstatModule {
    associatedtype Model: ModuleModel
    func decode(_ entry: PyValue) throws -> Model
    func plot(_ model: Model, into directory: TestDirectory) throws -> [String]
}

extension TypedModule {
    public func model(decoding entry: PyValue, config: Config) throws -> any ModuleModel { try decode(entry) }

    public func plot(_ model: any ModuleModel, into directory: TestDirectory) throws -> [String] {
        guard let model = model as? Model else {
            throw LockstatError("\(name): plot was given another module's results")
        }
        return try plot(model, into: directory)
    }
}

extension LockstatModule {
    public var aliases: [String] { [] }
    public var defaultInterval: Double? { nil }
    public func defaultInterval(for config: Config, on system: SystemRoot) -> Double? { defaultInterval }
    public var tableSchemas: [ResultTable] { [] }
    public var analysisParts: AnalysisParts { .model }
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? {
        "runs only when named (modules \(name), or --modules …,\(name))"
    }
    public var exampleSettings: [String] { [] }
    public var notServedReason: String { "it samples only while a program runs" }
    public func probe(_ system: SystemRoot) -> [ProbeCheck] { [] }

    /// Raw log → the module's typed results, plus warnings (bad lines, dropped bytes): the
    /// model part of `analyze`.
    public func parse(_ log: RawLog, config: Config) throws -> ParsedModule {
        guard let parsed = try analyze(log, config: config, parts: AnalysisRequest(.model)).parsed else {
            throw LockstatError("\(name): its analysis made no model")
        }
        return parsed
    }
}

/// The values a module's config key takes.
public enum ConfigValue: Sendable, Equatable {
    /// One of these words.
    case choice([String])
    /// One whole number in this range: each key's range says what the code that uses the value
    /// can take (a C int, a buffer's size), so no value reaches a conversion that would trap.
    case integer(ClosedRange<Int>)
    /// A number of seconds within the range.
    case seconds(ClosedRange<Double>)
    /// One or more words: any (nil), or each one of these.
    case words([String]?)

    /// nil when `values` fit, else what was expected (after "key 'K' ").
    func problem(_ values: [String]) -> String? {
        switch self {
        case .choice(let words):
            return values.count == 1 && words.contains(values[0])
                ? nil
                : "takes one of " + words.joined(separator: ", ") + ", got '\(values.joined(separator: " "))'"
        case .integer(let range):
            guard values.count == 1, let v = Int(values[0]) else {
                return
                    "needs one whole number from \(range.lowerBound) to \(range.upperBound), got '\(values.joined(separator: " "))'"
            }
            return range.contains(v) ? nil : "must be from \(range.lowerBound) to \(range.upperBound), got \(values[0])"
        case .seconds(let range):
            let ok = values.count == 1 && Double(values[0]).map { range.contains($0) } == true
            return ok
                ? nil
                : "takes seconds from \(range.lowerBound) to \(range.upperBound), got '\(values.joined(separator: " "))'"
        case .words(let allowed):
            guard !values.isEmpty else { return "needs one or more words" }
            guard let allowed, let unknown = values.first(where: { !allowed.contains($0) }) else { return nil }
            return "takes words from " + allowed.joined(separator: ", ") + ", got '\(unknown)'"
        }
    }

    /// `<module>.top`: the rows that get a series of their own in samples.pickle and a line on a
    /// chart; past a thousand no chart tells them apart.
    public static let topRows = ConfigValue.integer(1...1_000)
}

/// What a module gets at presampling.
public struct RecordingContext {
    public let system: SystemRoot
    public let config: Config
    /// The test directory: files a module makes there go through it (never a path of its own).
    public let directory: TestDirectory
    public var testDirectory: String { directory.path }
    /// The module's raw log; the recorder appends to it on the module's own thread only.
    public let log: RawLogWriter
    /// One line on stderr for the user, e.g. what a replay skips.
    public let warn: (String) -> Void

    public init(
        system: SystemRoot, config: Config, directory: TestDirectory, log: RawLogWriter,
        warn: @escaping (String) -> Void = { _ in }
    ) {
        self.system = system
        self.config = config
        self.directory = directory
        self.log = log
        self.warn = warn
    }
}

/// Takes the samples of one module during the run.
public protocol Recorder: AnyObject {
    /// The hot path: called on the module's own thread at each tick. Must not allocate.
    /// Returns false when the sample could not be taken (counted).
    func sample(tick: UInt64, time: UInt64) -> Bool
    /// After the last sample, on the same thread.
    func postsampling()
    /// The program's process is `pid`, called while it still waits to exec (before it can fork,
    /// and before the first sample): for recorders that follow its process tree.
    func programStarted(pid: pid_t)
}

extension Recorder {
    public func programStarted(pid: pid_t) {}
}

public struct ParsedModule {
    public var model: any ModuleModel
    /// The entry in samples.pickle.
    public var data: PyValue { model.entry }
    public var warnings: [String]
    /// Files besides the pickle (folded stacks, a text report), by name relative to the test
    /// directory (`NAME` or `samples/NAME`): the core writes them and lists them in the manifest.
    public var files: [(name: String, contents: String)]
    /// Lines for the run's summary: what the module saw and what it cost.
    public var notes: [String]

    public init(
        model: any ModuleModel, warnings: [String] = [], files: [(name: String, contents: String)] = [],
        notes: [String] = []
    ) {
        self.model = model
        self.warnings = warnings
        self.files = files
        self.notes = notes
    }
}
