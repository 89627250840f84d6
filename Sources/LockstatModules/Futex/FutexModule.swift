import CLockstat
import Foundation
import LockstatCore

/// User-space lock waits: every futex wait of the program's tasks (pthread mutexes, rwlocks,
/// condition variables, semaphores, C++ and Rust locks all sleep in the kernel as one), timed
/// from the futex call's entry to its exit, with the waiter's and the waker's stacks, the lock
/// word named by the data symbol holding it, aggregated in the kernel by BPF.
///
/// A module of its own, not a source of `contention`: its keys are a user-space lock word, user
/// stacks and a kind, not a kernel lock's address and kernel stack, and its scope rule differs
/// (user stacks and lock words are the process's data: the program's tasks by default).
public struct FutexModule: TypedModule {
    static let moduleName = "futex"
    public let name = moduleName
    public let summary =
        "user-space lock waits (futex): which lock word, waiter and waker call sites and stacks, kinds (mutex, rwlock, condvar...), owners; aggregated in the kernel by BPF"
    public var configKeys: [String: ConfigValue] { FutexSettings.configKeys }
    /// A drain of a full map (152 bytes an entry) must stay under RawLogFormat.maxSnapshot (64 MiB).
    static let entriesRange = 1...262_144
    public let samplesCheaply = false
    /// The kernel keeps the totals: reading them twice a second loses nothing.
    public let defaultInterval: Double? = 0.5
    static let kallsymsStream = RawLogStream.named(1), layoutStream = RawLogStream.named(2)

    public init() {}

    public func unavailableReason(_ system: SystemRoot) -> String? { Self.refusal(system) }

    /// Runs wherever it can: it traces only the program's own futex calls (`futex.scope program`).
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? {
        guard let refusal = Self.refusal(system) else { return nil }
        if system.isReplay { return refusal }
        return refusal + (geteuid() != 0 ? ": run lockstat as root" : "")
    }

    /// Why the module cannot run here (nil: it can). No side effects: loading is presampling's.
    static func refusal(_ system: SystemRoot) -> String? {
        if system.isReplay { return "futex traces the live kernel, not a --proc-root replay" }
        if geteuid() != 0 { return "futex needs root (CAP_BPF and CAP_PERFMON)" }
        guard FileReader.check("/sys/kernel/btf/vmlinux") == nil else {
            return "futex needs the kernel's BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)"
        }
        #if !arch(x86_64)
        return "futex reads x86-64's user registers: not yet ported to this architecture"
        #else
        return nil
        #endif
    }

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        if let reason = Self.refusal(context.system) { throw LockstatError(reason) }
        let settings = FutexSettings(context.config)
        let recorder = try FutexRecorder(
            entries: settings.entries, scopeProgram: settings.scope == .program, bpfTime: settings.bpfTime,
            system: context.system, directory: context.directory, log: context.log)
        if let refusal = recorder.runTime.refusal { context.warn("futex: futex.bpf_time yes: \(refusal)") }
        context.log.append(
            kind: .side, stream: Self.layoutStream, tick: 0, time: 0,
            text: KeyValueLines.text([
                ("mode", "bpf"), ("entries", String(settings.entries)), ("scope", settings.scope.rawValue),
            ]))
        KallsymsRecord.append(context.system, to: context.log, stream: Self.kallsymsStream)
        return recorder
    }

    public func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        var analysis = try FutexAnalysis(log: log)
        analysis.keep(FutexSettings(config).filter)
        let families = parts.parts.contains(.metrics) ? FutexTotals(analysis, addresses: parts.addresses).families : []
        let model = FutexModel(analysis)
        var warnings = [String]()
        let lost =
            analysis.counters[Int(LS_FUTEX_MAP_FULL.rawValue)] + analysis.counters[Int(LS_FUTEX_STARTS_FULL.rawValue)]
        if lost > 0 {
            warnings.append("\(lost) waits lost: the aggregation map was full (a larger futex.entries keeps them)")
        }
        if analysis.damaged > 0 { warnings.append("\(analysis.damaged) records did not decode") }
        if !analysis.unreadableFiles.isEmpty {
            let files = analysis.unreadableFiles
            let named =
                files.prefix(5).joined(separator: ", ") + (files.count > 5 ? " and \(files.count - 5) more" : "")
            warnings.append("could not read \(named): their frames and lock words are [unknown] or offsets")
        }
        if !analysis.filesWithoutSymbols.isEmpty {
            let files = analysis.filesWithoutSymbols
            let named =
                files.prefix(5).joined(separator: ", ") + (files.count > 5 ? " and \(files.count - 5) more" : "")
            warnings.append("no symbols in \(named) (stripped): their frames are [unknown], their lock words offsets")
        }
        if !analysis.leftOutFiles.isEmpty {
            let files = analysis.leftOutFiles.sorted { $0.key < $1.key }
            let named =
                files.prefix(5).map { "\($0.key) \($0.value.rawValue)" }.joined(separator: ", ")
                + (files.count > 5 ? " and \(files.count - 5) more" : "")
            warnings.append("user stacks unwound without the call-frame information of \(named)")
        }
        for (path, why) in analysis.refusedPerfMaps.sorted(by: { $0.key < $1.key }) {
            warnings.append("\(path) not read (\(why)): its JIT-compiled frames are [unknown]")
        }
        if !analysis.replacedFiles.isEmpty {
            let files = analysis.replacedFiles.sorted()
            let named =
                files.prefix(5).joined(separator: ", ") + (files.count > 5 ? " and \(files.count - 5) more" : "")
            warnings.append("\(named) replaced since the run (another build ID): their frames and lock words are [unknown]")
        }
        let files = [
            (
                "futex-waiters.folded",
                model.waiterFolded.map { "\($0.stack) \($0.waited)" }.joined(separator: "\n") + "\n"
            ),
            (
                "futex-wakers.folded",
                model.wakerFolded.map { "\($0.stack) \($0.waited)" }.joined(separator: "\n") + "\n"
            ),
        ]
        return ModuleAnalysis(
            parsed: parts.parts.contains(.model)
                ? ParsedModule(model: model, warnings: warnings, files: files, notes: [model.line]) : nil,
            metricFamilies: families,
            stackProfiles: parts.parts.contains(.stacks) ? [("futex", stackProfile(analysis, log: log))] : [])
    }

    public var analysisParts: AnalysisParts { [.model, .metrics, .stacks] }

    /// The contention waits as Go's mutex profiles have them (`contentions/count`,
    /// `delay/nanoseconds`), the waiter's frames leaf first, labelled with the lock word, its
    /// kind and the waker's call site. Frames are named, without addresses (user frames are
    /// named at parse from the files mapped then).
    func stackProfile(_ a: FutexAnalysis, log: RawLog) -> StackProfile {
        var profile = StackProfile(
            sampleTypes: [("contentions", "count"), ("delay", "nanoseconds")], periodType: ("contentions", "count"),
            period: 1)
        profile.timeNanos = Int64(clamping: log.startRealtime ?? 0)
        profile.durationNanos = Int64(clamping: (log.records.last?.time ?? log.startTime) &- log.startTime)
        for n in a.waits where n.wait.slept && n.kind.isContention {
            let names = n.waiterStack.isEmpty ? ["[no stack]"] : n.waiterStack.reversed()
            profile.add(
                frames: names.map { StackProfile.Frame(address: 0, function: $0, mapping: nil) },
                values: [Int64(clamping: n.wait.count), Int64(clamping: n.wait.total)],
                labels: [("lock", n.lock), ("kind", n.kind.rawValue), ("waker", n.waker)])
        }
        return profile
    }

    public func decode(_ entry: PyValue) throws -> FutexModel { try FutexModel(entry: entry) }

    public func plot(_ model: FutexModel, into directory: TestDirectory) throws -> [String] {
        try FutexPlots(model: model).write(into: directory)
    }

    public var tableSchemas: [ResultTable] { FutexModel.tables }

    public var exampleSettings: [String] { ["scope program", "entries 16384"] }
}
