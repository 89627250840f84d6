import CLockstat
import Foundation
import SystemPackage

/// `lockstat run DIR PROGRAM ARGS...`: the whole path data takes, one call per arrow:
/// config → test directory → presampling → program → sampler → postsampling
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
        guard let executable = Program.resolve(request.command[0], path: ProcessInfo.processInfo.environment["PATH"])
        else {
            throw LockstatError("\(request.command[0]): command not found", exitCode: 127)
        }
        let dir = TestDirectory(request.directory)
        try dir.prepareForRun()
        try dir.write("lockstat.config", request.config.rendered())
        try dir.write("cmd", shellQuoted(request.command) + "\n")

        ls_signals_install()
        try Program.startSupervisor()
        let started = Date()
        var skipped = [(module: String, reason: String)]()
        let sampled = startModules(request, dir: dir, modules: available, console: console) { skipped.append(($0, $1)) }
        let threads = SamplingThread.threads(for: sampled)
        // Whatever happens from here on, every module's postsampling runs (it restores what
        // presampling changed); stopping twice is harmless.
        defer { threads.forEach { $0.stopAndWait() } }
        let output = try CapturedOutput(fd: try dir.createFile("output"), tee: request.tee)
        // A terminating signal during presampling cancels the run: the program never starts, and
        // postsampling (the deferred stop) still restores what presampling changed.
        if let cancelled = Self.cancellation() {
            output.finish()
            threads.forEach { $0.stopAndWait() }
            try? dir.addToManifest(["lockstat.config", "cmd", "output"])
            try? Privileges.giveToInvokingUser(dir)
            console.error("cancelled by \(cancelled.name) before the program started: the program was not run")
            return cancelled.status
        }
        let start = ls_monotonic_ns()
        let pid = try Program.spawn(executable, arguments: request.command, outputFD: output.programFD) { pid in
            sampled.forEach { $0.programStarted(pid: pid) }
        }
        ls_signals_set_child(pid)
        // One that came between the check and the spawn reaches the program now.
        if let late = Self.cancellation() { kill(pid, late.signal) }
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
        var notes = [String]()
        var models = [(module: String, model: any ModuleModel)]()
        // What could not be recorded: the run then ends with 125, lockstat's own failure after
        // the program ran (as env(1) and timeout(1) use it); the program's status is in the summary.
        var failures = sampled.filter { $0.writeErrors > 0 }.map {
            "\($0.name): \($0.writeErrors) samples not written (\(SystemPackage.Errno(rawValue: $0.log.firstWriteError).description)); the raw log keeps every whole record before"
        }
        // Sampling is over: nothing more needs root. In a directory of the invoking user's,
        // parse and plot run as that user, so nothing planted there runs as root.
        try Privileges.handOver(dir)
        do {
            let parsed = try ParseStep.run(dir, modules: available, skipped: skipped.map(\.module))
            parsed.warnings.forEach { console.warn($0) }
            failures += parsed.unreadable
            notes = parsed.notes
            written += ["samples.pickle", "samples.json"]
            models = parsed.models
            let graphs = try GraphStep.plot(dir, modules: available, models: parsed.models)
            graphs.warnings.forEach { console.warn($0) }
            written += graphs.files
        } catch {
            failures.append("\(error) (the raw samples are kept; `lockstat parse \(request.directory)` retries)")
        }
        let metadata = RunMetadata(
            command: request.command, started: started, seconds: Double(end - start) / 1e9, status: status,
            config: request.config.rendered(), system: request.system, modules: sampled, skipped: skipped,
            warnings: console.warnings, notes: notes)
        do {
            try dir.write(RunMetadata.fileName, JSON.encode(metadata.value))
            written.append(RunMetadata.fileName)
        } catch { failures.append("\(error)") }
        do { try dir.addToManifest(["lockstat.config", "cmd", "output", RunMetadata.fileName]) } catch {
            failures.append("\(error)")
        }
        // The page last: it shows run.json.
        do {
            try GraphStep.writePage(dir, models: models)
            written.insert(RunPage.fileName, at: 0)
        } catch { failures.append("\(error)") }
        // Under sudo the files this run made are the invoking user's (nothing that was there before).
        do { try Privileges.giveToInvokingUser(dir) } catch { console.warn("\(error)") }
        console.summary(
            RunSummary(
                seconds: Double(end - start) / 1e9, modules: sampled, notes: notes,
                findings: TerminalSummary.lines(models),
                page: written.first == RunPage.fileName, directory: request.directory, status: status))
        guard failures.isEmpty else {
            for f in failures { console.error("recording failed: \(f)") }
            console.error(
                "the program exited with status \(status); lockstat exits 125 because the recording is incomplete")
            return RunPipeline.recordingFailed
        }
        return status
    }

    /// lockstat's exit status when the program ran but its recording failed.
    public static let recordingFailed: Int32 = 125

    /// The signal that cancels a run before its program starts, with the status it exits with.
    static func cancellation() -> (signal: Int32, name: String, status: Int32)? {
        let sig = ls_signals_first()
        guard sig != 0 else { return nil }
        return (sig, Program.signalName(sig), 128 + sig)
    }

    /// presampling of every configured module that can run here; the others are skipped with one line why.
    static func startModules(
        _ request: RunRequest, dir: TestDirectory, modules: [any LockstatModule], console: Console,
        skipped: (String, String) -> Void
    ) -> [SampledModule] {
        var sampled = [SampledModule]()
        for name in request.config.modules {
            guard let module = modules.first(where: { $0.name == name }) else { continue }
            if let reason = module.unavailableReason(request.system) {
                console.warn("module \(name) skipped: \(reason)")
                skipped(name, reason)
                continue
            }
            do {
                let log = RawLogWriter(
                    fd: try dir.createFile("samples/\(name).log", mode: 0o600), path: dir.rawLog(name))
                let context = RecordingContext(
                    system: request.system, config: request.config, directory: dir, log: log,
                    warn: console.warn)
                do {
                    let recorder = try module.presampling(context)
                    sampled.append(
                        SampledModule(
                            name: name,
                            interval: request.config.interval(
                                for: name,
                                moduleDefault: module.defaultInterval(for: request.config, on: request.system)),
                            sharesThread: module.samplesCheaply, recorder: recorder, log: log))
                } catch {
                    // A module that never sampled has no raw log: parse gives it None, as the original did.
                    dir.remove("samples/\(name).log")
                    throw error
                }
            } catch {
                console.warn("module \(name) skipped: \(error)")
                skipped(name, "\(error)")
            }
        }
        return sampled
    }
}

/// What the summary says at the end of a run: the run's line, each module's sampling and notes,
/// the modules' findings (the most contended locks, CPU, disks: the page shows the same lines),
/// then the page. Every line fits `TerminalSummary.width` columns but the page's, whose path is
/// never broken.
struct RunSummary {
    let seconds: Double
    let modules: [SampledModule]
    let notes: [String]
    /// `TerminalSummary.lines` of the run's models.
    let findings: [String]
    /// Whether the page was written.
    let page: Bool
    let directory: String
    let status: Int32

    var text: String {
        var lines = [String(format: "lockstat: %.2f s, program exit status %d", seconds, status)]
        for s in modules {
            let missed = s.counters.missed.load(ordering: .relaxed)
            let failed = s.counters.failed.load(ordering: .relaxed)
            var line =
                "  \(s.name): \(s.counters.samples.load(ordering: .relaxed)) samples every \(Double(s.intervalNanoseconds) / 1e9) s, \(missed) missed ticks"
            if failed > 0 { line += ", \(failed) failed samples" }
            if s.writeErrors > 0 { line += ", \(s.writeErrors) failed writes" }
            lines.append(line)
        }
        lines += notes.map { "  " + $0 }
        lines = lines.flatMap { TerminalSummary.wrapped($0) } + findings
        if page { lines.append("  open \(directory)/\(RunPage.fileName): the whole run on one page") }
        return lines.joined(separator: "\n")
    }
}
