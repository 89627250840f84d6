import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

/// Options shared by `lockstat run` and `lockstat-run`.
public struct RunOptions: ParsableArguments {
    @Option(
        help:
            "Config file (default: $LOCKSTAT_CONFIG, ~/.config/lockstat/lockstat.config, PREFIX/etc/lockstat/lockstat.config, else the built-in default)."
    )
    var config: String?

    @Option(help: ArgumentHelp("Modules to run, comma-separated, or `auto`: every module that can run here (overrides the config's `modules`).", valueName: "a,b"))
    var modules: String?

    @Option(help: ArgumentHelp("Seconds between samples (overrides the config's `intervall`).", valueName: "seconds"))
    var interval: String?

    @Option(
        name: .customLong("proc-root"),
        help: ArgumentHelp("Read every /proc and /sys path under DIR instead.", valueName: "DIR"))
    var procRoot: String?

    @Flag(help: "No progress line and no summary.")
    var quiet = false

    @Flag(help: "Also copy the program's output to the terminal.")
    var tee = false

    @Option(
        help: ArgumentHelp(
            "Run the program N times into DIR/1 … DIR/N and summarise the set in DIR/set.json.", valueName: "N"))
    var `repeat`: Int?

    @Option(
        help: ArgumentHelp("With --repeat: K more runs first (DIR/warmup-1 …), left out of the set.", valueName: "K"))
    var warmup = 0

    @Flag(help: "With --repeat: stop the set at the first run that fails (else it is kept, reported and left out).")
    var stopOnFailure = false

    /// A run of a set: the set's own command line, run once into DIR/NAME (`RepeatRun.runOne`).
    @Option(help: .hidden) var setMember: String?

    @Argument(help: "Test directory (created if missing).")
    var directory: String

    @Argument(help: "The program to run, then its arguments.")
    var program: String

    @Argument(parsing: .captureForPassthrough, help: .hidden)
    var arguments: [String] = []

    public init() {}

    /// The config with `modules auto` chosen for this machine, and a line for each module left out.
    func effectiveConfig() throws -> (Config, ModuleSet, leftOut: [String]) {
        var (config, set, _) = try loadConfig(explicit: self.config)
        if let list = modules {
            try ConfigParser.setModules(commaSeparated: list, in: &config, catalog: set.catalog, at: "--modules")
        }
        if let interval { config.interval = try ConfigParser.interval([interval], at: "--interval:") }
        let (resolved, leftOut) = AutomaticModules.resolve(
            config, modules: set.modules, system: SystemRoot(procRoot ?? "/"))
        try set.checkFiles(of: resolved.modules)
        return (resolved, set, leftOut)
    }

    func execute(subcommand: [String]) throws {
        if let member = setMember {
            // Only the names RepeatRun gives: a name with a slash or dots could lead out of DIR.
            guard member.wholeMatch(of: #/(warmup-)?[1-9][0-9]*/#) != nil else {
                throw LockstatError.usage("--set-member: not a run of a set: '\(member)'")
            }
            var one = self
            (one.directory, one.repeat, one.setMember) = (directory + "/" + member, nil, nil)
            (one.warmup, one.stopOnFailure) = (0, false)
            return try one.execute(subcommand: subcommand)
        }
        if let count = self.repeat {
            // Checked first: nothing is made or reserved for a count beyond what a set holds.
            guard (1...RunSet.maxRuns).contains(count) else {
                throw LockstatError.usage("--repeat: must be from 1 to \(RunSet.maxRuns), got \(count)")
            }
            guard (0...RunSet.maxRuns).contains(warmup) else {
                throw LockstatError.usage("--warmup: must be from 0 to \(RunSet.maxRuns), got \(warmup)")
            }
            _ = try effectiveConfig()
            guard Program.resolve(program, path: ProcessInfo.processInfo.environment["PATH"]) != nil else {
                throw LockstatError("\(program): command not found", exitCode: 127)
            }
            let set = RepeatRun(
                options: self, subcommand: subcommand,
                commandLine: Array(CommandLine.arguments.dropFirst(1 + subcommand.count)))
            throw ExitCode(try set.execute(count: count, warmup: warmup, stopOnFailure: stopOnFailure))
        }
        guard warmup == 0, !stopOnFailure else {
            throw LockstatError.usage("--warmup and --stop-on-failure go with --repeat")
        }
        let (config, set, leftOut) = try effectiveConfig()
        if !quiet { leftOut.forEach { writeText(2, "lockstat: \($0)\n") } }
        var request = RunRequest(
            directory: directory, command: [program] + arguments, config: config,
            system: SystemRoot(procRoot ?? "/"))
        request.quiet = quiet
        request.tee = tee
        throw ExitCode(try RunPipeline.run(request, modules: set.modules))
    }
}

public struct RunCommand: PassesProgramArguments {
    public static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run PROGRAM while sampling the kernel; then parse and graph the samples into DIR.")

    @OptionGroup var options: RunOptions

    public init() {}

    public func run() throws { try options.execute(subcommand: ["run"]) }

    var program: String { options.program }
    var programArguments: [String] {
        get { options.arguments }
        set { options.arguments = newValue }
    }
}

/// `lockstat-run`: the original's entry point, the same as `lockstat run`.
public struct LockstatRunCommand: PassesProgramArguments {
    public static let configuration = CommandConfiguration(
        commandName: "lockstat-run",
        abstract: "Run PROGRAM while sampling the kernel; then parse and graph the samples into DIR.")

    @OptionGroup var options: RunOptions

    public init() {}

    public func run() throws { try options.execute(subcommand: []) }

    var program: String { options.program }
    var programArguments: [String] {
        get { options.arguments }
        set { options.arguments = newValue }
    }
}
