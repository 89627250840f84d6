import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

public struct LockstatCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lockstat",
        abstract: "Sample lock contention, CPU and disk while a program runs; parse, graph and report.",
        subcommands: [
            RunCommand.self, ParseCommand.self, GraphCommand.self, ReportCommand.self, CompareCommand.self,
            ModulesCommand.self,
            ConfigCommand.self, DoctorCommand.self, ServeCommand.self, ExportCommand.self, TopCommand.self,
            SamplesKeysCommand.self,
        ])

    public init() {}
}

/// An earlier run's directory that parse and graph rewrite: privileges are its owner's, and its
/// run lock is held so no run writes it meanwhile.
func lockedEarlierRun(_ directory: String) throws -> TestDirectory {
    let dir = TestDirectory(directory)
    try Privileges.enter(dir)
    try dir.lock()
    return dir
}

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse", abstract: "Redo the parse step: DIR/samples/ → DIR/samples.pickle and samples.json.")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    func run() throws {
        let dir = try lockedEarlierRun(directory)
        guard try RunSet.isSet(directory) else {
            if try !parse(dir) { throw ExitCode(1) }
            return
        }
        // A repeat set: each run, then the set's summary.
        var complete = true
        for run in try RunSet.runFolders(directory) {
            print("== \(run)")
            let member = TestDirectory(run)
            try member.lock()
            complete = try parse(member) && complete
        }
        var warnings = [String]()
        try RunSet.rewriteSummary(dir, modules: { try modules(ofTestDirectory: $0) }, warnings: &warnings)
        for w in warnings { writeText(2, "lockstat: warning: \(w)\n") }
        print("wrote \(dir.file(RunSet.summaryName))")
        if !complete { throw ExitCode(1) }
    }

    /// False when a raw log could not be read (said in one line each; its module kept its earlier data).
    func parse(_ dir: TestDirectory) throws -> Bool {
        let outcome = try ParseStep.run(dir, modules: try modules(ofTestDirectory: dir.path))
        for w in outcome.warnings { writeText(2, "lockstat: warning: \(w)\n") }
        for (module, count) in outcome.samples { print("\(module): \(count) samples") }
        for note in outcome.notes { print(note) }
        print("wrote \(dir.file("samples.pickle")) and \(dir.file("samples.json"))")
        for line in outcome.unreadable { writeText(2, "lockstat: \(line)\n") }
        return outcome.unreadable.isEmpty
    }
}

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph", abstract: "Redo the plot step: DIR/samples.pickle → DIR/*.svg and DIR/index.html.")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    func run() throws {
        // The lock is held until every graph is written.
        try withExtendedLifetime(try lockedEarlierRun(directory)) {
            // A repeat set: each run's graphs.
            for run in try RunSet.isSet(directory) ? RunSet.runFolders(directory) : [directory] {
                let member = TestDirectory(run)
                if run != directory { try member.lock() }
                let (files, warnings) = try GraphStep.run(member, modules: try modules(ofTestDirectory: run))
                for w in warnings { writeText(2, "lockstat: warning: \(w)\n") }
                print(
                    "wrote \(member.file(RunPage.fileName)) and \(files.count) graphs in \(run): "
                        + files.joined(separator: " "))
            }
        }
    }
}

struct ModulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modules", abstract: "List every module, whether it can run here, and if not, why.")

    @Option(
        name: .customLong("proc-root"), help: ArgumentHelp("Check /proc and /sys under DIR instead.", valueName: "DIR"))
    var procRoot: String?

    @Option(help: "Config file whose module path lists drop-in modules (default: the config in effect).")
    var config: String?

    func run() throws {
        let system = SystemRoot(procRoot ?? "/")
        for module in try loadConfig(explicit: config).modules.modules {
            let verdict = module.unavailableReason(system).map { "unavailable: \($0)" } ?? "available"
            print("\(module.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(verdict)")
            print(
                "           \(module.summary)"
                    + (module.aliases.isEmpty ? "" : "; also named " + module.aliases.joined(separator: ", ")))
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract:
            "Every table of a run (lock classes, lock contentions, profile symbols, drop-in modules' tables) as text.")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    @Option(
        help: ArgumentHelp(
            "Sort every table that has this column by it, the others by their main metric (built-in: \(SortKey.builtIn.joined(separator: ", "))).",
            valueName: "key"))
    var sort: SortKey?

    @Option(
        help: ArgumentHelp(
            "Of a module's alternative tables, the one grouped by this (built-in: \(Grouping.builtIn.joined(separator: ", "))).",
            valueName: "grouping"))
    var by: Grouping?

    @Option(help: "How many rows per table.") var top = 20

    @OptionGroup var filters: ReadingFilters

    func run() throws {
        try filters.overrides.check(BuiltInModules.all)
        try Privileges.enter(TestDirectory(directory))
        guard try RunSet.isSet(directory) else { return try report(directory) }
        // A repeat set: each run's report (`lockstat compare` sets them against each other).
        for (i, run) in try RunSet.runFolders(directory).enumerated() {
            print((i > 0 ? "\n" : "") + "== \(run)")
            try report(run)
        }
    }

    func report(_ directory: String) throws {
        let dir = TestDirectory(directory)
        var warnings = [String]()
        let models = try loadModels(
            dir, modules: try modules(ofTestDirectory: directory), warnings: &warnings, overrides: filters.overrides)
        for w in warnings { writeText(2, "lockstat: warning: \(w)\n") }
        let report = TableReport(modules: models.map { ($0.module, $0.model.results) })
        guard report.modules.contains(where: { $0.results.tables.contains(where: \.reported) }) else {
            throw LockstatError(
                "\(dir.file("samples.pickle")): no tables: none of the run's modules with data (\(models.map(\.module).joined(separator: ", "))) has any"
            )
        }
        print(try report.render(sort: sort?.text, by: by?.text, top: top), terminator: "")
    }
}

/// `--type`, `--lock`, `--stack`: which contentions a report or comparison counts, as the
/// `types`, `locks` and `stacks` keys of the modules that have them choose when recording.
struct ReadingFilters: ParsableArguments {
    @Option(
        name: .customLong("type"),
        help: ArgumentHelp(
            "Only locks of this type (repeatable: mutex, rwsem:W, rwsem, spinlock, ...).", valueName: "type"))
    var types: [String] = []
    @Option(
        name: .customLong("lock"),
        help: ArgumentHelp("Only this lock: its name or address (repeatable).", valueName: "lock"))
    var locks: [String] = []
    @Option(
        name: .customLong("stack"),
        help: ArgumentHelp(
            "Only waits whose call stack has a function containing this (repeatable).", valueName: "text"))
    var stacks: [String] = []

    var overrides: SettingOverrides {
        var o = SettingOverrides()
        o.add(option: "--type", key: "types", values: types)
        o.add(option: "--lock", key: "locks", values: locks)
        o.add(option: "--stack", key: "stacks", values: stacks)
        return o
    }
}

/// A `--sort` key: a column of a table. Checked against the run's tables, which drop-in
/// modules extend; the built-in modules' keys are offered for completion.
struct SortKey: ExpressibleByArgument {
    let text: String
    init?(argument: String) { text = argument }
    static let builtIn = Array(Set(BuiltInModules.all.flatMap(\.tableSchemas).flatMap(TableReport.sortKeys))).sorted()
    static var defaultCompletionKind: CompletionKind { .list(builtIn) }
}

/// A `--by` grouping: which of a module's alternative tables the report shows.
struct Grouping: ExpressibleByArgument {
    let text: String
    init?(argument: String) { text = argument }
    static let builtIn = BuiltInModules.all.flatMap(\.tableSchemas).compactMap(\.grouping)
    static var defaultCompletionKind: CompletionKind { .list(builtIn) }
}

struct ConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "config", abstract: "Show which config file is in effect and its settings.")

    @Option(help: "Config file to check instead of the search.") var config: String?

    @Flag(name: .customLong("default"), help: "Print the built-in default, to start a config file from.")
    var printDefault = false

    func run() throws {
        if printDefault {
            print(ConfigParser.defaultText, terminator: "")
            return
        }
        let env = ProcessInfo.processInfo.environment
        let (effective, _, origin) = try loadConfig(explicit: config)
        print("# in effect: \(origin)")
        print(
            "# searched: --config, $LOCKSTAT_CONFIG, "
                + ConfigSource.searchPath(environment: env).joined(separator: ", ") + ", built-in default")
        print(effective.rendered(), terminator: "")
    }
}

/// Hidden: prints docs/samples-keys.md, the samples.json keys as each module's model names them.
struct SamplesKeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samples-keys", abstract: "Print docs/samples-keys.md from the modules' models.",
        shouldDisplay: false)

    func run() throws { print(SamplesKeysReference.markdown, terminator: "") }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract:
            "What this machine can measure, module by module, and what to change for the rest (exit 1 when a configured module cannot run)."
    )

    @Option(help: "Config file whose modules decide the exit status (default: the config in effect).") var config:
        String?

    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        let (effective, set, _) = try loadConfig(explicit: config)
        let doctor = Doctor(config: effective, modules: set)
        print(json ? doctor.json : doctor.text, terminator: "")
        if !doctor.ok { throw ExitCode(1) }
    }
}
