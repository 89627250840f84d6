import CLockstat
import Foundation
import LockstatCore
import SystemPackage

/// A CPU profiler on perf events, under the original's name (it drove OProfile): where the CPUs
/// spent their time, by symbol and image, per CPU and over time, with a flame graph.
public struct ProfileModule: TypedModule {
    static let moduleName = "oprofile"
    public let name = moduleName
    public let aliases = ["profile"]
    public let summary =
        "CPU profile from perf_event_open (cycles, or cpu-clock without a PMU): symbols and images per CPU, over time, flame graph"
    public var configKeys: [String: ConfigValue] { ProfileSettings.configKeys }
    /// oprofile.frequency in Hz: a period of 1 µs or more (perf_event_open takes up to
    /// kernel.perf_event_max_sample_rate, 100000 by default; presampling checks that runtime limit).
    static let frequencyRange = 1...1_000_000
    static let maxSampleRateFile = "/proc/sys/kernel/perf_event_max_sample_rate"
    /// Draining rings is not a procfs read: a thread of its own.
    public let samplesCheaply = false
    public let exampleSettings = ["frequency 99", "scope program"]
    /// At 99 Hz half a second holds ~50 samples per CPU: what-ran-when shares with a few points
    /// of sampling noise rather than tens (set oprofile.intervall for finer, noisier ones).
    public let defaultInterval: Double? = 0.5
    static let kallsymsStream = RawLogStream.named(1), setupStream = RawLogStream.named(2),
        mapsStream = RawLogStream.named(3)

    public init() {}

    public func unavailableReason(_ system: SystemRoot) -> String? {
        if let refusal = PerfPermission.refusal(system) { return refusal }
        let e = ls_perf_probe_cpu_clock()
        return e == 0
            ? nil : "perf_event_open refused the cpu-clock event: \(SystemPackage.Errno(rawValue: e).description)"
    }

    /// What one sample costs the sampled program on its CPU (the timer interrupt, the call-chain
    /// walk, the ring write) plus lockstat's drain of it, in seconds (BENCHMARKS.md, oprofile).
    static let costPerSample = 14e-6
    /// The most of the program's CPU `modules auto` lets the profile take.
    static let automaticCostLimit = 0.02

    /// The profile's share of a busy program's CPU at `frequency` Hz.
    static func cost(frequency: Int) -> Double { Double(frequency) * costPerSample }

    /// In `modules auto` where perf allows it and its frequency costs at most 2 % of the program's CPU.
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? {
        if let reason = unavailableReason(system) {
            return reason + ": run lockstat as root, or sysctl kernel.perf_event_paranoid=-1"
        }
        let frequency = ProfileSettings(config).frequency
        let cost = Self.cost(frequency: frequency)
        guard cost <= Self.automaticCostLimit else {
            return String(
                format: "oprofile.frequency %d costs about %.1f %% of the program's CPU (more than %.0f %%): "
                    + "name it (--modules …,oprofile) to run it anyway, or lower the frequency",
                frequency, cost * 100, Self.automaticCostLimit * 100)
        }
        return nil
    }

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        var setup = ProfileSetup(text: "")
        let settings = ProfileSettings(context.config)
        setup.frequency = settings.frequency
        // The runtime limit perf_event_open checks (EINVAL above it); the kernel lowers it by
        // itself when sampling interrupts take too long, so it is read here, not at config time.
        if case .success(let text) = FileReader.readText(context.system.path(Self.maxSampleRateFile)),
            let limit = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), setup.frequency > limit
        {
            throw LockstatError(
                "oprofile.frequency \(setup.frequency) Hz is above kernel.perf_event_max_sample_rate (\(limit) Hz): "
                    + "lower oprofile.frequency or raise the sysctl")
        }
        setup.scope = settings.scope.rawValue
        let event = settings.event
        // Hardware cycles where the machine has a PMU: samples land where the cycles go.
        setup.event = event == .cpuClock || (event == .auto && ls_perf_probe_cycles() != 0) ? "cpu-clock" : "cycles"
        // The period can be changed on the events lockstat holds, not on those the program's
        // processes inherited: program scope keeps the fixed period.
        setup.randomPeriod = settings.randomPeriod && setup.event == "cpu-clock" && settings.scope == .system
        // The stack copies are the sampled processes' memory, and under sudo the raw log is given to
        // the invoking user: perf events copy every sampled task's stack, whoever owns it.
        let dwarf = settings.callgraph == .dwarf && InvokingUser.current.uid == 0
        if settings.callgraph == .dwarf && !dwarf {
            context.warn(
                "oprofile.callgraph dwarf: not under sudo (the stack copies, other users' memory, would land in "
                    + "\(InvokingUser.current.uid)'s files): frame pointers instead")
        }
        if dwarf {
            setup.userRegisterMask = ProfileRecorder.dwarfUserRegisters
            setup.userStackBytes = Int(ProfileRecorder.dwarfStackBytes)
        }
        setup.cpus = onlineCPUs(context.system)
        setup.model = context.system.cpuModel
        if case .success(let notes) = FileReader.readAll(context.system.path("/sys/kernel/notes")) {
            setup.kernelBuildID = notes.withUnsafeBytes { ElfImage.buildID(inNotes: $0) }
        }
        // Before the events are on: the kernel's time making kallsyms (~0.1 s) is no sample.
        KallsymsRecord.append(context.system, to: context.log, stream: Self.kallsymsStream)
        let recorder = try ProfileRecorder(
            cpus: setup.cpus, frequency: UInt64(setup.frequency), cycles: setup.event == "cycles",
            scopeProgram: settings.scope == .program, randomPeriod: setup.randomPeriod,
            dwarf: setup.userStackBytes > 0, log: context.log)
        context.log.append(kind: .side, stream: Self.setupStream, tick: 0, time: 0, text: setup.text)
        // After the events are on: a mapping made in between is in both, never in neither.
        context.log.append(
            kind: .side, stream: Self.mapsStream, tick: 0, time: 0, text: AddressSpaces.snapshot(context.system))
        return recorder
    }

    public var analysisParts: AnalysisParts { [.model, .stacks] }
    public var notServedReason: String { "its profile is exported with `lockstat export DIR --format pprof`" }

    /// The samples read and symbolized once; every sample's stack is kept only for `.stacks`
    /// (the pprof profile), which a parse does not need.
    public func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        let data = try ProfileData(log: log, config: config, keepingStacks: parts.parts.contains(.stacks))
        return ModuleAnalysis(
            parsed: parts.parts.contains(.model) ? parsed(data) : nil,
            stackProfiles: parts.parts.contains(.stacks) ? stackProfiles(data, log: log) : [])
    }

    func parsed(_ data: ProfileData) -> ParsedModule {
        let model = data.model
        let files = [
            ("samples/oprofile", ProfileReport(model: model).text),
            ("oprofile.folded", data.analysis.folded.map { "\($0.stack) \($0.count)" }.joined(separator: "\n") + "\n"),
        ]
        var warnings = [String]()
        if data.analysis.lost > 0 {
            warnings.append(
                "\(data.analysis.lost) samples lost: the ring buffers were full (a shorter oprofile.intervall drains them more often)"
            )
        }
        if data.undecodable > 0 { warnings.append("\(data.undecodable) records did not decode") }
        if !data.unreadableFiles.isEmpty {
            warnings.append(
                "no symbols from \(data.unreadableFiles.count) files (gone or not ELF), shown as [unknown]: "
                    + data.unreadableFiles.prefix(5).joined(separator: ", "))
        }
        if !data.changedFiles.isEmpty {
            warnings.append(
                "\(data.changedFiles.count) files changed since the run started, their symbols may not be the run's: "
                    + data.changedFiles.prefix(5).joined(separator: ", "))
        }
        if let w = data.vmlinuxWarning { warnings.append(w) }
        return ParsedModule(model: model, warnings: warnings, files: files)
    }

    public func decode(_ entry: PyValue) throws -> ProfileModel { try ProfileModel(entry: entry) }

    public func plot(_ model: ProfileModel, into directory: TestDirectory) throws -> [String] {
        try ProfilePlots(model: model).write(into: directory)
    }

    public var tableSchemas: [ResultTable] { [ProfileModel.symbolTable, ProfileModel.processTable] }
}

extension ProfileModule {
    /// The CPU profile as Go's: `samples/count` and `cpu/nanoseconds` (each sample weighed by its
    /// period), leaf first, every frame a location in its mapping (with the file's build ID).
    func stackProfiles(_ data: ProfileData, log: RawLog) -> [(name: String, profile: StackProfile)] {
        guard var profile = data.analysis.stacks else { return [] }
        profile.timeNanos = Int64(clamping: log.startRealtime ?? 0)
        profile.durationNanos = Int64(clamping: (log.records.last?.time ?? log.startTime) &- log.startTime)
        return [("cpu", profile)]
    }
}
