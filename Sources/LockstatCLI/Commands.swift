import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

public struct LockstatCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "lockstat",
        abstract: "Sample lock contention, CPU and disk while a program runs; parse, graph and report.",
        subcommands: [RunCommand.self, ParseCommand.self, GraphCommand.self, ReportCommand.self, ModulesCommand.self,
                      ConfigCommand.self, DoctorCommand.self])

    public init() {}
}

struct ParseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse", abstract: "Redo the parse step: DIR/samples/ → DIR/samples.pickle and samples.json.")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    func run() throws {
        let dir = TestDirectory(directory)
        try Privileges.enter(dir)
        try dir.lock()
        let outcome = try ParseStep.run(dir, modules: try modules(ofTestDirectory: directory))
        for w in outcome.warnings { writeText(2, "lockstat: warning: \(w)\n") }
        for (module, count) in outcome.samples { print("\(module): \(count) samples") }
        for note in outcome.notes { print(note) }
        print("wrote \(dir.file("samples.pickle")) and \(dir.file("samples.json"))")
    }
}

struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "graph", abstract: "Redo the plot step: DIR/samples.pickle → DIR/*.svg.")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    func run() throws {
        let dir = TestDirectory(directory)
        try Privileges.enter(dir)
        try dir.lock()
        let (files, warnings) = try GraphStep.run(dir, modules: try modules(ofTestDirectory: directory))
        for w in warnings { writeText(2, "lockstat: warning: \(w)\n") }
        print("wrote \(files.count) graphs in \(directory): " + files.joined(separator: " "))
    }
}

struct ModulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modules", abstract: "List every module, whether it can run here, and if not, why.")

    @Option(name: .customLong("proc-root"), help: ArgumentHelp("Check /proc and /sys under DIR instead.", valueName: "DIR"))
    var procRoot: String?

    @Option(help: "Config file whose module path lists drop-in modules (default: the config in effect).")
    var config: String?

    func run() throws {
        let system = SystemRoot(procRoot ?? "/")
        for module in try loadConfig(explicit: config).modules.modules {
            let verdict = module.unavailableReason(system).map { "unavailable: \($0)" } ?? "available"
            print("\(module.name.padding(toLength: 10, withPad: " ", startingAt: 0)) \(verdict)")
            print("           \(module.summary)" + (module.aliases.isEmpty ? "" : "; also named " + module.aliases.joined(separator: ", ")))
        }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report", abstract: "The top lock classes (lock_stat), lock contentions (contention) and CPU profile symbols (oprofile) of a run as tables.")

    @Argument(help: "Test directory of an earlier run.") var directory: String

    @Option(help: ArgumentHelp("Sort by: lock_stat \(LockStatReport.sortKeys.joined(separator: ", ")); contention \(ContentionReport.sortKeys.joined(separator: ", ")).", valueName: "key"))
    var sort: String?

    @Option(help: "Contention rows by caller, lock, task or owner (the task holding a mutex or rwsem, bpf mode).") var by = "caller"

    @Option(help: "How many rows.") var top = 20

    /// `--sort` for one table: its own key (written with - or _), else its default where the key
    /// is another table's; a key no table has is an error listing each table's keys.
    func sortKey(_ keys: [String], default fallback: String) -> String {
        guard let sort else { return fallback }
        let spelled = keys.first { $0.replacingOccurrences(of: "-", with: "_") == sort.replacingOccurrences(of: "-", with: "_") }
        return spelled ?? fallback
    }

    func run() throws {
        let dir = TestDirectory(directory)
        try Privileges.enter(dir)
        let samples = try loadSamples(dir)
        if let sort {
            let tables = [("lock_stat", LockStatReport.sortKeys), ("contention", ContentionReport.sortKeys)]
            let normalized = sort.replacingOccurrences(of: "-", with: "_")
            if !tables.contains(where: { $0.1.contains { $0.replacingOccurrences(of: "-", with: "_") == normalized } }) {
                throw LockstatError.usage("--sort: unknown key '\(sort)'; " + tables.map { "\($0.0): " + $0.1.joined(separator: ", ") }.joined(separator: "; "))
            }
        }
        var printed = false
        if let data = samples["lock_stat"], data != .none {
            print(try LockStatReport(data: data).render(sort: sortKey(LockStatReport.sortKeys, default: "wait-total"), top: top), terminator: "")
            printed = true
        }
        if let data = samples["contention"], data != .none {
            if printed { print("") }
            print(try ContentionReport.render(data, by: by, sort: sortKey(ContentionReport.sortKeys, default: "wait_total"), top: top), terminator: "")
            printed = true
        }
        if let data = samples["oprofile"], data != .none {
            if printed { print("") }
            print(ProfileReport.render(data, top: top), terminator: "")
            printed = true
        }
        if !printed {
            throw LockstatError("\(dir.file("samples.pickle")): no lock_stat, contention or oprofile data (the run had none of these modules, or they could not run)")
        }
    }
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
        print("# searched: --config, $LOCKSTAT_CONFIG, " + ConfigSource.searchPath(environment: env).joined(separator: ", ") + ", built-in default")
        print(effective.rendered(), terminator: "")
    }
}

struct DoctorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "What this machine can measure, module by module, and what to change for the rest (exit 1 when a configured module cannot run).")

    @Option(help: "Config file whose modules decide the exit status (default: the config in effect).") var config: String?

    @Flag(help: "Machine-readable output.") var json = false

    func run() throws {
        let (effective, set, _) = try loadConfig(explicit: config)
        let doctor = Doctor(configured: effective.modules, modules: set)
        print(json ? doctor.json : doctor.text, terminator: "")
        if !doctor.ok { throw ExitCode(1) }
    }
}
