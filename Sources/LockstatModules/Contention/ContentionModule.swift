import CLockstat
import Foundation
import LockstatCore

/// Lock contention on ordinary kernels (5.19+), from the lock:contention_begin/end tracepoints,
/// as `perf lock contention` sees it: who waited, where, on which lock, for how long. Two modes:
/// `bpf` aggregates in the kernel (perf lock contention -b's way: nothing lost at any rate),
/// `ring` copies every event through perf ring buffers (perf lock record's way); `auto` (the
/// default) is bpf where this machine allows it.
public struct ContentionModule: TypedModule {
    static let moduleName = "contention"
    public let name = moduleName
    public let summary =
        "lock contention from the lock:contention_begin/end tracepoints (5.19+ kernels): callers, locks, owners, wait times, flame graph; aggregated in the kernel by BPF where it can (contention.mode)"
    public var configKeys: [String: ConfigValue] { ContentionSettings.configKeys }
    /// contention.entries: a drain of a full map (224 bytes an entry) is one raw-log snapshot, and
    /// parse refuses a snapshot past RawLogFormat.maxSnapshot (64 MiB): 2^18 entries is 56 MiB.
    static let entriesRange = 1...262_144
    /// Draining rings takes as long as the events take: a thread of its own.
    public let samplesCheaply = false
    /// Ring mode: often enough that a 512 KiB ring does not fill under heavy contention (at
    /// 0.05 s the futex storm lost half its events; at 0.01 s none, more than perf lock record kept).
    public let defaultInterval: Double? = 0.01
    /// bpf mode: the kernel keeps the totals, so reading them twice a second loses nothing.
    static let bpfInterval = 0.5
    static let kallsymsStream = RawLogStream.named(1), layoutStream = RawLogStream.named(2),
        commStream = RawLogStream.named(3)

    public init() {}

    enum Mode: String { case bpf, ring }

    /// The mode a config gets here, and why not bpf when it asked for auto.
    func mode(_ config: Config, _ system: SystemRoot) -> (mode: Mode, fallback: String?) {
        switch ContentionSettings(config).mode {
        case .ring: return (.ring, nil)
        case .bpf: return (.bpf, nil)
        case .auto:
            if let reason = Self.bpfRefusal(system) { return (.ring, reason) }
            return (.bpf, nil)
        }
    }

    public func defaultInterval(for config: Config, on system: SystemRoot) -> Double? {
        mode(config, system).mode == .bpf ? Self.bpfInterval : defaultInterval
    }

    public func unavailableReason(_ system: SystemRoot) -> String? {
        if let refusal = PerfPermission.refusal(system) { return refusal }
        // Not mounted yet, as root: presampling mounts tracefs (and says so if the events are missing).
        guard Tracefs.locate(system) != nil || Tracefs.mountable(system) else {
            let release = ProcessInfo.processInfo.operatingSystemVersion
            if (release.majorVersion, release.minorVersion) < Self.firstKernelWithTracepoints {
                return "kernel older than 5.19: no lock:contention tracepoints"
            }
            return "no lock:contention tracepoints in tracefs ("
                + Tracefs.candidates.map(system.path).joined(separator: ", ") + ")"
        }
        return nil
    }

    /// bpf mode only: ring mode costs a storm a third to half of its throughput (BENCHMARKS.md).
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? {
        let ring =
            "; naming it (--modules …,contention) runs ring mode, which costs a storm a third to half its throughput"
        if let refusal = Self.bpfRefusal(system) {
            let enable =
                system.isReplay
                ? "" : geteuid() != 0 ? ": run lockstat as root" : ": boot a kernel with CONFIG_DEBUG_INFO_BTF=y"
            return refusal + enable + (unavailableReason(system) == nil ? ring : "")
        }
        if let reason = unavailableReason(system) { return reason + ": a 5.19 or later kernel has the tracepoints" }
        if mode(config, system).mode == .ring {
            return "contention.mode ring: `modules auto` runs contention in bpf mode only; name it to run ring mode"
        }
        return nil
    }

    /// The lock:contention_begin/end tracepoints came with Linux 5.19.
    static let firstKernelWithTracepoints = (5, 19)

    /// Why bpf mode cannot run here (nil: it can). No side effects: loading is presampling's.
    static func bpfRefusal(_ system: SystemRoot) -> String? {
        if system.isReplay { return "bpf mode traces the live kernel, not a --proc-root replay" }
        if geteuid() != 0 { return "bpf mode needs root (CAP_BPF and CAP_PERFMON)" }
        guard FileReader.check("/sys/kernel/btf/vmlinux") == nil else {
            return "bpf mode needs the kernel's BTF (/sys/kernel/btf/vmlinux, CONFIG_DEBUG_INFO_BTF)"
        }
        return nil
    }

    /// The kernel function contention.holds all would time holds at, and the probe of it.
    static let fentryProbeFunction = "mutex_lock"

    /// nil where a fentry program loads and attaches (as root); else why not, as the kernel said.
    static func fentryRefusal(_ system: SystemRoot) -> String? {
        if let reason = bpfRefusal(system) { return reason }
        var error = [CChar](repeating: 0, count: 512)
        guard ls_bpf_fentry_probe(fentryProbeFunction, &error, error.count) != 0 else { return nil }
        return String(cString: error)
    }

    /// contention.holds all's one line at the start of a run: what it gets instead of every hold.
    static func holdsAllNotice(fentryRefusal: String?, wakers: Bool) -> String {
        let instead =
            wakers ? "holds under contention only" : "no hold times (contention.wakers yes gives holds under contention)"
        guard let fentryRefusal else {
            return "contention: contention.holds all: fentry loads here, but timing every hold is not implemented yet: "
                + instead
        }
        return "contention: contention.holds all needs fentry programs, which do not load here (\(fentryRefusal)): "
            + instead
    }

    /// What `lockstat doctor` says of the modes.
    public static func modeVerdict(_ system: SystemRoot) -> String {
        bpfRefusal(system).map { "ring mode (\($0))" } ?? "bpf mode (in-kernel aggregation)"
    }

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        let (mode, fallback) = mode(context.config, context.system)
        let settings = ContentionSettings(context.config)
        let entries = settings.entries
        let scopeProgram = settings.scope == .program
        if mode == .bpf {
            if let reason = Self.bpfRefusal(context.system) { throw LockstatError(reason) }
            if settings.holds == .all {
                context.warn(
                    Self.holdsAllNotice(fentryRefusal: Self.fentryRefusal(context.system), wakers: settings.wakers))
            }
            if settings.ownerStacks && !settings.wakers {
                context.warn("contention: contention.owner_stacks yes needs contention.wakers yes: no owner stacks")
            }
            do {
                let cgroups = CgroupResolver(context.system)
                if cgroups == nil { context.warn("contention: \(CgroupHierarchy.noMount)") }
                for missing in CgroupHierarchy.absent(settings.cgroups, mountPoint: cgroups?.mountPoint) {
                    context.warn("contention.cgroup \(missing): no such cgroup now (its waits count if it appears)")
                }
                let recorder = try bpfRecorder(
                    context, entries: entries, scopeProgram: scopeProgram, cgroups: cgroups)
                // Written only with wakers, so a log without them reads (and parses) as before.
                let wakers: [(key: String, value: String)] =
                    recorder.wakers
                    ? [
                        ("wakers", "yes"), ("interrupt_wakes", recorder.classifiesInterrupts ? "yes" : "no"),
                        ("waker_key", "tgid"),
                    ] : []
                context.log.append(
                    kind: .side, stream: Self.layoutStream, tick: 0, time: 0,
                    text: KeyValueLines.text(
                        [
                            ("mode", "bpf"), ("entries", String(entries)),
                            ("scope", scopeProgram ? "program" : "system"),
                            ("cpus", String(onlineCPUs(context.system).count)),
                            ("cgroups", cgroups.map { "v2 " + $0.mountPoint } ?? "ids"),
                        ] + wakers))
                // After loading: kallsyms then names the BPF programs' own frames, which parse drops.
                KallsymsRecord.append(context.system, to: context.log, stream: Self.kallsymsStream)
                return recorder
            } catch {
                guard settings.mode != .bpf else { throw error }
                context.warn("contention: bpf mode could not load (\(error)): ring mode")
                return try ringPresampling(context, scopeProgram: scopeProgram)
            }
        }
        if let fallback { context.warn("contention: \(fallback): ring mode") }
        if !settings.cgroups.isEmpty {
            context.warn("contention: contention.cgroup applies in bpf mode only: ring mode records no cgroups")
        }
        return try ringPresampling(context, scopeProgram: scopeProgram)
    }

    /// bpf mode's recorder, with waker stacks as contention.wakers says; where they do not load
    /// (a kernel whose BTF lacks a field sched_waking reads), without them, and it says why.
    func bpfRecorder(
        _ context: RecordingContext, entries: Int, scopeProgram: Bool, cgroups: CgroupResolver?
    ) throws -> BPFContentionRecorder {
        let recorder = try loadBPFRecorder(context, entries: entries, scopeProgram: scopeProgram, cgroups: cgroups)
        if let refusal = recorder.runTime.refusal { context.warn("contention: contention.bpf_time yes: \(refusal)") }
        return recorder
    }

    private func loadBPFRecorder(
        _ context: RecordingContext, entries: Int, scopeProgram: Bool, cgroups: CgroupResolver?
    ) throws -> BPFContentionRecorder {
        let settings = ContentionSettings(context.config)
        if settings.wakers {
            do {
                return try BPFContentionRecorder(
                    entries: entries, scopeProgram: scopeProgram, wakers: true, ownerStacksAtBegin: settings.ownerStacks,
                    filter: settings.filter,
                    cgroupFilter: settings.cgroups, cgroups: cgroups, bpfTime: settings.bpfTime, system: context.system,
                    log: context.log)
            } catch {
                context.warn("contention: waker stacks could not load (\(error)): recorded without them")
            }
        }
        return try BPFContentionRecorder(
            entries: entries, scopeProgram: scopeProgram, wakers: false, filter: settings.filter,
            cgroupFilter: settings.cgroups, cgroups: cgroups, bpfTime: settings.bpfTime, system: context.system,
            log: context.log)
    }

    func ringPresampling(_ context: RecordingContext, scopeProgram: Bool) throws -> any Recorder {
        guard let tracefs = Tracefs.locateOrMount(context.system), let begin = tracefs.id("contention_begin"),
            let end = tracefs.id("contention_end")
        else {
            throw LockstatError("no lock:contention tracepoints")
        }
        let beginFormat = tracefs.format("contention_begin")
        let endFormat = tracefs.format("contention_end")
        let layout = TracepointLayout(
            beginID: begin, endID: end,
            lockAddressOffset: Tracefs.offset(of: "lock_addr", in: beginFormat) ?? TracepointFields.lockAddress,
            valueOffset: Tracefs.offset(of: "flags", in: beginFormat) ?? TracepointFields.flags)
        let recorder = try ContentionRecorder(
            layout: layout, cpus: onlineCPUs(context.system), scopeProgram: scopeProgram,
            system: context.system, log: context.log)
        // What parse needs to read the events again later: the layout, the kernel's symbols.
        context.log.append(
            kind: .side, stream: Self.layoutStream, tick: 0, time: 0,
            text: KeyValueLines.text([
                ("begin_id", String(begin)), ("end_id", String(end)),
                ("lock_addr_offset", String(layout.lockAddressOffset)),
                ("flags_offset", String(layout.valueOffset)),
                ("ret_offset", String(Tracefs.offset(of: "ret", in: endFormat) ?? TracepointFields.ret)),
                ("mode", "ring"), ("scope", scopeProgram ? "program" : "system"),
            ]))
        KallsymsRecord.append(context.system, to: context.log, stream: Self.kallsymsStream)
        return recorder
    }

    public var analysisParts: AnalysisParts { [.model, .metrics, .stacks] }

    /// The events (or the kernel's aggregates) read once; the model, the metric families and the
    /// pprof profile are each made from the same contentions.
    public func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        let settings = ContentionSettings(config)
        let data = try ContentionData(log: log, top: settings.top, filter: settings.filter, cgroups: settings.cgroups)
        let wants = parts.parts
        return ModuleAnalysis(
            parsed: wants.contains(.model) ? parsed(data) : nil,
            metricFamilies: wants.contains(.metrics)
                ? metricFamilies(data, addresses: parts.addresses, cgroups: ServeSettings(config).cgroups) : [],
            stackProfiles: wants.contains(.stacks) ? stackProfiles(data, log: log) : [])
    }

    func parsed(_ data: ContentionData) -> ParsedModule {
        let files = [
            ("samples/contention.txt", ContentionAnalysis.table(data.analysis.byCaller, keyTitle: "caller")),
            ("contention.folded", data.analysis.folded.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n"),
        ]
        var warnings = [String]()
        if data.lost > 0 {
            warnings.append(
                data.mode == .bpf
                    ? "\(data.lost) waits lost: the aggregation map was full (a larger contention.entries keeps them)"
                    : "\(data.lost) events lost: the ring buffers were full (contention.mode bpf loses none; else a shorter contention.intervall drains them more often)"
            )
        }
        if let missed = data.aggregates?.counters[Int(LS_BPF_RECURSION_MISSED.rawValue)], missed > 0 {
            warnings.append(
                "\(missed) lock events not seen: the kernel ran none of lockstat's BPF programs for them, another "
                    + "BPF program running on the same CPU (bpf_prog_info.recursion_misses)")
        }
        if data.undecodable > 0 { warnings.append("\(data.undecodable) records did not decode") }
        if let full = data.aggregates?.counters[Int(LS_BPF_WAKERS_FULL.rawValue)], full > 0 {
            warnings.append(
                "\(full) waits left out of the waker table: its map was full (a larger contention.entries keeps them)")
        }
        let model = data.model
        return ParsedModule(model: model, warnings: warnings, files: files, notes: [data.cost.line])
    }

    public func decode(_ entry: PyValue) throws -> ContentionModel { try ContentionModel(entry: entry) }

    public func plot(_ model: ContentionModel, into directory: TestDirectory) throws -> [String] {
        try ContentionPlots(model: model).write(into: directory)
    }

    public var tableSchemas: [ResultTable] {
        ContentionModel.tables + [
            ContentionModel.wakersTable, ContentionModel.holdsTable, ContentionModel.holdCallersTable,
            ContentionModel.cgroupsTable,
        ]
    }
}

extension ContentionModule {
    /// Contended stacks as Go's mutex profiles have them: `contentions/count` and
    /// `delay/nanoseconds`, leaf (the lock's slow path) first, each sample labelled with the
    /// report's caller and lock type (`go tool pprof -tags` gives the report's caller table).
    func stackProfiles(_ data: ContentionData, log: RawLog) -> [(name: String, profile: StackProfile)] {
        let symbols = data.analysis.symbols
        var profile = Self.newProfile()
        profile.timeNanos = Int64(clamping: log.startRealtime ?? 0)
        profile.durationNanos = Int64(clamping: (log.records.last?.time ?? log.startTime) &- log.startTime)
        for c in data.analysis.contentions {
            profile.add(
                frames: Self.profileFrames(c.stack, symbols: symbols),
                values: [Int64(c.count), Int64(clamping: c.total)],
                labels: Self.profileLabels(
                    caller: c.caller, flags: c.flags, lock: data.analysis.lockSymbol(c.lock, kind: c.kind) ?? ""))
        }
        return [(Self.profileName, profile)] + (wakerProfile(data, like: profile).map { [("contention_waker", $0)] } ?? [])
    }

    /// A sample's labels: the report's caller and lock type, and the lock's name when it has one
    /// (never an address: serve's profile would grow by one sample per lock).
    static func profileLabels(caller: String, flags: UInt32, lock: String) -> [(key: String, value: String)] {
        [("caller", caller), ("type", ContentionAnalysis.type(flags))] + (lock.isEmpty ? [] : [("lock", lock)])
    }

    /// The profile's name: export's contention.pb.gz, serve's /debug/pprof/contention.
    static let profileName = "contention"

    static func newProfile() -> StackProfile {
        StackProfile(
            sampleTypes: [("contentions", "count"), ("delay", "nanoseconds")], periodType: ("contentions", "count"),
            period: 1)
    }

    /// A stack's frames, leaf first, named from kallsyms; `[no stack]` where the kernel kept none.
    static func profileFrames(_ stack: [UInt64], symbols: KernelSymbols) -> [StackProfile.Frame] {
        stack.isEmpty
            ? [StackProfile.Frame(address: 0, function: "[no stack]", mapping: nil)]
            : stack.map {
                StackProfile.Frame(address: $0, function: symbols.functionName($0) ?? "[unknown]", mapping: .kernel)
            }
    }

    /// contention.wakers: a second profile, of the same waits by the stack of the task that woke
    /// them (kernel frames, then the user frames, named from the waker process's maps where they
    /// were kept, else their addresses) — a label cannot carry a stack, and
    /// as a profile of its own pprof draws the release sites as it draws the waiters' stacks.
    /// Labels: the wake's class, the waiter's caller. Waits nobody woke with a stack are left out.
    func wakerProfile(_ data: ContentionData, like waiters: StackProfile) -> StackProfile? {
        guard let aggregates = data.aggregates, let entries = aggregates.wakers else { return nil }
        let analysis = data.analysis, symbols = analysis.symbols
        var profile = StackProfile(
            sampleTypes: waiters.sampleTypes, periodType: waiters.periodType, period: waiters.period)
        profile.timeNanos = waiters.timeNanos
        profile.durationNanos = waiters.durationNanos
        let userSymbols = Symbolizer(kernel: symbols)
        for e in entries where e.key.waker_stack >= 0 && e.value.count > 0 {
            let kernel = analysis.withoutTracingFrames(aggregates.kernelStacks[e.key.waker_stack] ?? []).map {
                StackProfile.Frame(address: $0, function: symbols.functionName($0) ?? "[unknown]", mapping: .kernel)
            }
            let user = (aggregates.userStacks[e.key.waker_ustack] ?? []).enumerated().map { i, ip in
                let named = userSymbols.userFrame(
                    ip, in: aggregates.wakerSpaces.mapping(pid: e.key.waker_tgid, address: ip), returnAddress: i > 0
                ).symbol
                return StackProfile.Frame(
                    address: ip, function: named == Symbolizer.unknownSymbol ? "0x" + String(ip, radix: 16) : named,
                    mapping: nil)
            }
            let waiter = analysis.withoutTracingFrames(aggregates.kernelStacks[e.key.stack_id] ?? [])
            profile.add(
                frames: kernel + user, values: [Int64(e.value.count), Int64(clamping: e.value.total_ns)],
                labels: [
                    ("class", ContentionWakers.className(e.key.wake_class)),
                    ("waiter_caller", e.key.stack_id < 0 ? "[no stack]" : analysis.caller(waiter)),
                ])
        }
        return profile
    }
}
