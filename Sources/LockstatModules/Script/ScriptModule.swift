import Foundation
import LockstatCore

/// A drop-in module: a Python 3 file (`NAME.py`) or any executable (`NAME`) with the original's
/// operations — presampling, sample, postsampling, parse, plot; absent Python functions do nothing.
/// Executables are called as `NAME presampling DIR`, `NAME sample DIR T`, `NAME postsampling DIR`,
/// `NAME parse DIR` (JSON on stdout) and `NAME plot DIR DATA_JSON_FILE INTERVAL`.
struct ScriptModule: LockstatModule {
    enum Kind { case python, executable }

    let name: String
    let file: String
    let kind: Kind
    var summary: String { "drop-in module (\(kind == .python ? "Python 3" : "executable")): \(file)" }
    var configKeys: [String: ConfigValue] { ScriptSettings.configKeys }
    /// A script can take any time: it gets a sampling thread of its own.
    let samplesCheaply = false

    func unavailableReason(_ system: SystemRoot) -> String? {
        if let reason = Self.notRegular(file) { return reason }
        if kind == .python && ScriptProcess.python3 == nil { return "needs python3 on PATH" }
        return TrustedCode.refusal(file)
    }

    /// Why `path` cannot be a module's file when it is no regular file (a FIFO would hang the
    /// interpreter that opens it), else nil.
    static func notRegular(_ path: String) -> String? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        let kinds: [mode_t: String] = [
            S_IFIFO: "a FIFO", S_IFSOCK: "a socket", S_IFCHR: "a character device",
            S_IFBLK: "a block device", S_IFDIR: "a directory",
        ]
        guard let kind = kinds[st.st_mode & S_IFMT] else { return nil }
        return "\(path): not a regular file (\(kind)); a module must be one"
    }

    func limit(_ config: Config) -> CallLimit {
        CallLimit(seconds: ScriptSettings(config, module: name).timeout)
    }

    /// Refuses to start the module's code as root unless root owns it (TrustedCode); checked
    /// wherever the module is started: sampling, parse and plot.
    func checkTrusted() throws {
        if let reason = Self.notRegular(file) ?? TrustedCode.refusal(file) {
            throw LockstatError("module \(name): refused: \(reason)")
        }
    }

    func presampling(_ context: RecordingContext) throws -> any Recorder {
        try checkTrusted()
        let errors = ScriptErrors(module: name, directory: context.directory)
        switch kind {
        case .python:
            let output = try errors.outputFile()
            let session = try PythonSession(
                python: ScriptProcess.python3!, file: file, testDirectory: context.testDirectory, output: output,
                limit: limit(context.config))
            if let traceback = session.call("presampling") { errors.report("presampling", traceback) }
            return PythonRecorder(session: session, errors: errors)
        case .executable:
            let recorder = ExecutableRecorder(
                file: file, testDirectory: context.testDirectory, errors: errors, limit: limit(context.config))
            recorder.run(["presampling", context.testDirectory], operation: "presampling")
            return recorder
        }
    }

    var notServedReason: String { "drop-in modules run with a program" }

    /// The script's parse, run only when the model is asked for: a drop-in has no metric
    /// families or stack profiles.
    func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        parts.parts.contains(.model) ? ModuleAnalysis(parsed: try parseScript(log, config: config)) : ModuleAnalysis()
    }

    func parseScript(_ log: RawLog, config: Config) throws -> ParsedModule {
        try checkTrusted()
        let dir = log.testDirectory
        let errors = ScriptErrors(module: name, directory: TestDirectory(dir))
        switch kind {
        case .python:
            let out = dir + "/samples/\(name).parsed"
            let r = try ScriptProcess.run(
                ScriptProcess.python3!, PythonRunner.arguments("parse", file, dir, out), limit: limit(config))
            guard r.status == 0, case .success(let pickle) = FileReader.readAll(out + ".pickle") else {
                errors.report("parse", r.stderr)
                throw LockstatError(
                    "\(name) parse failed (exit \(r.status)): \(r.stderr.split(separator: "\n").last ?? "")")
            }
            let json: String? = {
                if case .success(let t) = FileReader.readText(out + ".json") { return t }
                return nil
            }()
            return try parsed(.foreign(pickle: pickle, json: json), config: config)
        case .executable:
            let r = try ScriptProcess.run(file, ["parse", dir], limit: limit(config))
            guard r.status == 0 else {
                errors.report("parse", r.stderr)
                throw LockstatError(
                    "\(name) parse failed (exit \(r.status)): \(r.stderr.split(separator: "\n").last ?? "")")
            }
            let value: PyValue
            do {
                value = PyValue(json: try JSONSerialization.jsonObject(with: r.stdout, options: [.fragmentsAllowed]))
            } catch {
                throw LockstatError("\(name) parse: stdout is not JSON: \(error.localizedDescription)")
            }
            return try parsed(value, config: config)
        }
    }

    /// The value with the tables and series it declares; a declaration that does not check out
    /// is a warning naming its key, and the value is kept as it is.
    func parsed(_ value: PyValue, config: Config) throws -> ParsedModule {
        do {
            return ParsedModule(
                model: try ScriptModel(entry: value, interval: config.interval(for: name), limit: limit(config)))
        } catch {
            return ParsedModule(
                model: ScriptModel(
                    entry: value, interval: config.interval(for: name), limit: limit(config),
                    results: Results()),
                warnings: ["\(DeclaredResults.key) left out: \(error)"])
        }
    }

    func model(decoding entry: PyValue, config: Config) throws -> any ModuleModel {
        try ScriptModel(entry: entry, interval: config.interval(for: name), limit: limit(config))
    }

    func plot(_ model: any ModuleModel, into directory: TestDirectory) throws -> [String] {
        guard let model = model as? ScriptModel else {
            throw LockstatError("\(name): plot was given another module's results")
        }
        try checkTrusted()
        let errors = ScriptErrors(module: name, directory: directory)
        let data = model.entry
        let interval = model.interval
        let before = directory.listing()
        let r: ScriptProcess.Outcome
        switch kind {
        case .python:
            r = try ScriptProcess.run(
                ScriptProcess.python3!, PythonRunner.arguments("plot", file, directory.path, "\(interval)", name),
                limit: model.limit)
        case .executable:
            try directory.write("samples/\(name).data.json", JSON.encode(data))
            r = try ScriptProcess.run(
                file, ["plot", directory.path, directory.file("samples/\(name).data.json"), "\(interval)"],
                limit: model.limit)
        }
        guard r.status == 0 else {
            errors.report("plot", r.stderr)
            throw LockstatError("\(name) plot failed (exit \(r.status)): \(r.stderr.split(separator: "\n").last ?? "")")
        }
        // What the module wrote into the test directory is part of the run; the files it made
        // anew are this run's own (under sudo they change owner with the rest).
        let after = directory.listing()
        let written = after.filter {
            before[$0.key].map { [$0.tv_sec, $0.tv_nsec] } != [$0.value.tv_sec, $0.value.tv_nsec]
        }
        .map(\.key).filter { !$0.hasPrefix(".") }.sorted()
        for name in written where before[name] == nil { try directory.noteCreated(name) }
        return written
    }
}

/// A drop-in module's parse value as it returned it, and the tables and series it declares.
struct ScriptModel: ModuleModel {
    let entry: PyValue
    /// The module's sampling interval (s), for its plot.
    let interval: Double
    /// How long its plot may take.
    let limit: CallLimit
    let results: Results
}

extension ScriptModel {
    /// Reads the declaration from the value itself, or from its JSON text when Python made it.
    init(entry: PyValue, interval: Double, limit: CallLimit) throws {
        var value = entry
        if case .foreign(_, let json?) = entry,
            let object = try? JSONSerialization.jsonObject(with: Data(json.utf8), options: [.fragmentsAllowed])
        {
            value = PyValue(json: object)
        }
        self.init(
            entry: entry, interval: interval, limit: limit, results: try DeclaredResults.decode(value) ?? Results())
    }
}

/// The Python session behind a module's sampling thread.
final class PythonRecorder: Recorder {
    private let session: PythonSession
    private let errors: ScriptErrors

    init(session: PythonSession, errors: ScriptErrors) {
        self.session = session
        self.errors = errors
    }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        guard let traceback = session.call("sample \(tick)") else { return true }
        errors.report("sample (tick \(tick))", traceback)
        return false
    }

    func postsampling() {
        if let traceback = session.call("postsampling") { errors.report("postsampling", traceback) }
        session.close()
    }
}

/// An executable module: one process per operation and tick.
final class ExecutableRecorder: Recorder {
    let file: String
    let testDirectory: String
    let errors: ScriptErrors
    let limit: CallLimit

    init(file: String, testDirectory: String, errors: ScriptErrors, limit: CallLimit) {
        self.file = file
        self.testDirectory = testDirectory
        self.errors = errors
        self.limit = limit
    }

    @discardableResult
    func run(_ arguments: [String], operation: String) -> Bool {
        do {
            let r = try ScriptProcess.run(file, arguments, limit: limit)
            guard r.status == 0 else {
                errors.report(operation, "exit status \(r.status)\n" + r.stderr)
                return false
            }
            return true
        } catch {
            errors.report(operation, "\(error)")
            return false
        }
    }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        run(["sample", testDirectory, String(tick)], operation: "sample (tick \(tick))")
    }

    func postsampling() { run(["postsampling", testDirectory], operation: "postsampling") }
}

/// A module's failures: the first of each operation on stderr with its traceback, every one
/// kept in DIR/samples/<module>.errors (beside DIR/samples/<module>.output, what it printed).
final class ScriptErrors: @unchecked Sendable {
    let module: String
    let directory: TestDirectory
    var path: String { directory.file(name) }
    private var name: String { "samples/\(module).errors" }
    private var reported = Set<String>()
    private let lock = NSLock()

    init(module: String, directory: TestDirectory) {
        self.module = module
        self.directory = directory
    }

    func outputFile() throws -> FileHandle {
        FileHandle(fileDescriptor: try directory.createFile("samples/\(module).output"), closeOnDealloc: true)
    }

    func report(_ operation: String, _ traceback: String) {
        lock.withLock {
            let entry = "module \(module): \(operation) failed:\n\(traceback)\(traceback.hasSuffix("\n") ? "" : "\n")"
            if let fd = try? directory.appendFile(name) {
                let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
                writeText(handle.fileDescriptor, entry)
            }
            let kind = String(operation.prefix { $0 != " " })
            if reported.insert(kind).inserted {
                writeText(
                    2,
                    "lockstat: " + entry
                        + "lockstat: (further \(kind) failures of \(module) are counted and kept in \(path))\n")
            }
        }
    }
}

extension PyValue {
    /// From JSONSerialization's objects.
    init(json: Any) {
        switch json {
        case let d as [String: Any]: self = .stringDict(d.keys.sorted().map { ($0, PyValue(json: d[$0]!)) })
        case let a as [Any]: self = .list(a.map { PyValue(json: $0) })
        case let s as String: self = .string(s)
        case let n as NSNumber:
            switch String(cString: n.objCType) {
            case "c", "B": self = .bool(n.boolValue)
            case "d", "f": self = .float(n.doubleValue)
            default: self = .int(n.int64Value)
            }
        default: self = .none
        }
    }
}
