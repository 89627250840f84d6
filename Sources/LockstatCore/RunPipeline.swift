import CLockstat
import Foundation

/// `lockstat run DIR PROGRAM ARGS...`: the whole path data takes, one call per arrow
/// (DESIGN.md): config → test directory → presampling → program → sampler → postsampling
/// → parse → plot → summary.
public struct RunRequest {
    public var directory: String
    public var command: [String]
    public var config: Config
    public var system: SystemRoot
    public var quiet = false
    public var tee = false

    public init(directory: String, command: [String], config: Config, system: SystemRoot) {
        self.directory = directory
        self.command = command
        self.config = config
        self.system = system
    }
}

public enum RunPipeline {
    /// Runs and returns the program's exit status (128+N when signal N killed it).
    public static func run(_ request: RunRequest, modules available: [any LockstatModule]) throws -> Int32 {
        let console = Console(quiet: request.quiet)
        guard let executable = Program.resolve(request.command[0], path: ProcessInfo.processInfo.environment["PATH"]) else {
            throw LockstatError("\(request.command[0]): command not found", exitCode: 127)
        }
        let dir = TestDirectory(request.directory)
        try dir.prepareForRun()
        try dir.write("lockstat.config", request.config.rendered())
        try dir.write("cmd", shellQuoted(request.command) + "\n")

        ls_signals_install()
        let sampled = startModules(request, dir: dir, modules: available, console: console)
        let threads = SamplingThread.threads(for: sampled)
        // Whatever happens from here on, every module's postsampling runs (it restores what
        // presampling changed); stopping twice is harmless.
        defer { threads.forEach { $0.stopAndWait() } }
        let output = try CapturedOutput(fd: try dir.createFile("output"), tee: request.tee)
        let start = ls_monotonic_ns()
        let pid = try Program.spawn(executable, arguments: request.command, outputFD: output.programFD)
        ls_signals_set_child(pid)
        output.programStarted()
        threads.forEach { $0.start(at: start) }
        let progress = console.startProgress(modules: sampled, start: start)

        let status = Program.exitStatus(fromWaitStatus: ls_wait(pid))
        let end = ls_monotonic_ns()
        ls_signals_set_child(0)
        threads.forEach { $0.stopAndWait() }
        progress?.stop()
        output.finish()

        var written = ["lockstat.config", "cmd", "output", "samples"]
        // Sampling is over: nothing more needs root. In a directory of the invoking user's,
        // parse and plot run as that user, so nothing planted there runs as root.
        try Privileges.handOver(dir)
        do {
            let parsed = try ParseStep.run(dir, modules: available)
            parsed.warnings.forEach { console.warn($0) }
            written += ["samples.pickle", "samples.json"]
            let graphs = try GraphStep.run(dir, modules: available, data: parsed.data)
            graphs.warnings.forEach { console.warn($0) }
            written += graphs.files
        } catch {
            console.warn("\(error) (the raw samples are kept; `lockstat parse \(request.directory)` retries)")
        }
        try? dir.addToManifest(["lockstat.config", "cmd", "output"])
        // Under sudo the files this run made are the invoking user's (nothing that was there before).
        do { try Privileges.giveToInvokingUser(dir) } catch { console.warn("\(error)") }
        console.summary(RunSummary(seconds: Double(end - start) / 1e9, modules: sampled, files: written,
                                   directory: request.directory, status: status))
        return status
    }

    /// presampling of every configured module that can run here; the others are skipped with one line why.
    static func startModules(_ request: RunRequest, dir: TestDirectory, modules: [any LockstatModule], console: Console) -> [SampledModule] {
        var sampled = [SampledModule]()
        for name in request.config.modules {
            guard let module = modules.first(where: { $0.name == name }) else { continue }
            if let reason = module.unavailableReason(request.system) {
                console.warn("module \(name) skipped: \(reason)")
                continue
            }
            do {
                let log = try RawLogWriter(fd: try dir.createFile("samples/\(name).log", mode: 0o600), path: dir.rawLog(name))
                let context = RecordingContext(system: request.system, config: request.config, directory: dir, log: log,
                                               warn: console.warn)
                do {
                    let recorder = try module.presampling(context)
                    sampled.append(SampledModule(name: name, interval: request.config.interval(for: name, moduleDefault: module.defaultInterval),
                                                 sharesThread: module.samplesCheaply, recorder: recorder, log: log))
                } catch {
                    // A module that never sampled has no raw log: parse gives it None, as the original did.
                    dir.remove("samples/\(name).log")
                    throw error
                }
            } catch {
                console.warn("module \(name) skipped: \(error)")
            }
        }
        return sampled
    }
}

/// What the summary says at the end of a run.
struct RunSummary {
    let seconds: Double
    let modules: [SampledModule]
    let files: [String]
    let directory: String
    let status: Int32

    var text: String {
        var lines = [String(format: "lockstat: %.2f s, program exit status %d", seconds, status)]
        for s in modules {
            let missed = s.counters.missed.load(ordering: .relaxed), failed = s.counters.failed.load(ordering: .relaxed)
            var line = "  \(s.name): \(s.counters.samples.load(ordering: .relaxed)) samples every \(Double(s.intervalNanoseconds) / 1e9) s, \(missed) missed ticks"
            if failed > 0 { line += ", \(failed) failed samples" }
            if s.writeErrors > 0 { line += ", \(s.writeErrors) failed writes" }
            lines.append(line)
        }
        lines.append("  wrote in \(directory): " + files.joined(separator: " "))
        return lines.joined(separator: "\n")
    }
}
