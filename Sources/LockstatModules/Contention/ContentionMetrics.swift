import CLockstat
import LockstatCore

/// Contentions since lockstat started, as one histogram family by caller, lock type and lock:
/// `_count` is the number of contentions, `_sum` their total wait in seconds. Buckets are the
/// kernel's log2 buckets two at a time (bucket i holds [2^i, 2^(i+1)) ns, so a pair's largest
/// whole-ns wait is 2^(2j+2) − 1 ns: `le` is exact for integer waits).
struct ContentionTotals {
    /// `cgroup`: the waiting task's cgroup path (serve.cgroups yes; else empty and no label).
    struct RowKey: Hashable {
        let caller: String, type: String, lock: String, cgroup: String
        init(caller: String, type: String, lock: String, cgroup: String = "") {
            self.caller = caller
            self.type = type
            self.lock = lock
            self.cgroup = cgroup
        }
    }
    private var rows: [RowKey: (buckets: [UInt64], count: UInt64, total: UInt64)] = [:]
    private var order: [RowKey] = []
    /// Rows kept apart; waits of rows beyond them go to one `other` row, so memory stays bounded
    /// however many callers and locks the kernel shows (serve's cap would fold them the same way).
    private let maxRows: Int
    /// serve.cgroups: rows by cgroup too, each counted against serve.max_series.
    let cgroups: Bool
    var other: RowKey {
        RowKey(
            caller: ExposedSeries.otherLabel, type: ExposedSeries.otherLabel, lock: ExposedSeries.otherLabel,
            cgroup: cgroups ? ExposedSeries.otherLabel : "")
    }

    init(maxRows: Int = .max, cgroups: Bool = false) {
        self.maxRows = maxRows
        self.cgroups = cgroups
    }
    static let pairs = Int(LS_BPF_BUCKETS) / 2
    static let upperBounds: [Double] = (0..<pairs).map { j in
        j == pairs - 1 ? .infinity : Double((UInt64(1) << UInt64(2 * j + 2)) - 1) / 1e9
    }

    /// The lock's name when it has one (a static lock's symbol, the waiting task's mmap_lock or
    /// siglock, a slab cache's, rq_lock), else empty; with `addresses`, the report's `name (address)`
    /// (so the locks of one cache stay apart), or the address alone.
    static func lockLabel(_ address: UInt64, kind: UInt32, analysis: ContentionAnalysis, addresses: Bool) -> String {
        let name = analysis.lockSymbol(address, kind: kind)
        guard addresses else { return name ?? "" }
        let hex = String(address, radix: 16)
        return name.map { "\($0) (\(hex))" } ?? "0x" + hex
    }

    /// Waits of one row: `buckets` the kernel's log2 buckets, or nil for one wait of `total` ns.
    mutating func add(_ wanted: RowKey, count: UInt64, total: UInt64, buckets: [UInt32]?) {
        var key = wanted
        if rows[key] == nil {
            if order.count >= maxRows { key = other }
            if rows[key] == nil { rows[key] = (Array(repeating: 0, count: Self.pairs), 0, 0) }
            if key != other { order.append(key) }
        }
        rows[key]!.count += count
        rows[key]!.total += total
        if let buckets {
            for (i, n) in buckets.enumerated() { rows[key]!.buckets[min(i / 2, Self.pairs - 1)] += UInt64(n) }
        } else {
            let i = total == 0 ? 0 : 63 - total.leadingZeroBitCount
            rows[key]!.buckets[min(i / 2, Self.pairs - 1)] += count
        }
    }

    var families: [MetricFamily] {
        var wait = MetricFamily(
            name: "lockstat_lock_wait_seconds", kind: .histogram, unit: "seconds",
            help:
                "Lock contentions by caller (first frame outside lock code), lock type and named lock since lockstat started; _count is contentions, _sum their wait (lock:contention_begin/end)",
            labels: ["caller", "type", "lock"] + (cgroups ? ["cgroup"] : []))
        for key in order + (rows[other] == nil ? [] : [other]) {
            guard let r = rows[key] else { continue }
            wait.points.append(
                MetricPoint(
                    labels: [key.caller, key.type, key.lock] + (cgroups ? [key.cgroup] : []),
                    histogram: MetricHistogram(
                        upperBounds: Self.upperBounds, counts: r.buckets.map { Double($0) }, sum: Double(r.total) / 1e9)
                ))
        }
        return [wait]
    }
}

/// serve's contention: the bpf mode's programs aggregate in the kernel; every interval the
/// changed entries are folded into the totals and entries idle for 10 s are deleted (a wait
/// under one later starts a new entry from zero), so the map and what is kept of it hold only
/// what waited lately, however long serve runs and however many tasks come and go.
final class ContentionSource: MetricsSource {
    private let handle: OpaquePointer
    private let capacity: Int
    private let changed: UnsafeMutablePointer<ls_bpf_entry>
    /// Names callers and locks (kallsyms read once, after the programs loaded).
    private var analysis: ContentionAnalysis
    private let lockNames: LockNameDrain
    private let addresses: Bool
    /// contention.bpf_time: the programs' run time counted while serve runs.
    private let runTime: BPFRunTimeStatistics
    private let idleDrains: Int
    private var last: [BPFAggregates.Key: (value: ls_bpf_value, idle: Int)] = [:]
    /// Per stack id: its caller and frames (without the BPF machinery's), resolved once.
    private var stacks: [Int32: (caller: String, frames: [UInt64])] = [:]
    private var totals: ContentionTotals
    /// Contentions and wait (ns) since serve started per call stack, lock flags and lock label: the
    /// pprof profile.
    private var byStack: [StackKey: (count: UInt64, total: UInt64)] = [:]
    private struct StackKey: Hashable { let stack: Int32, flags: UInt32, lock: String }
    private let startRealtime = StackProfile.wallClockNanoseconds()
    /// serve.cgroups yes: cgroup ids to paths (nil without a v2 mount: ids), each resolved once.
    private let cgroups: Bool
    private let cgroupResolver: CgroupResolver?
    private var cgroupNames: [UInt64: String] = [:]
    /// contention.wakers: hold under contention, read whole at each scrape; each hold map entry's
    /// row named once (its lock's type from the waits seen), so its series keeps its labels.
    private let holdEntries: UnsafeMutablePointer<ls_bpf_hold_entry>?
    private var holdTotals: HoldTotals
    private var holdRows: [HoldKey: ContentionTotals.RowKey] = [:]
    private struct HoldKey: Hashable { let lock: UInt64, stack: Int32 }

    /// `wakers`: attach sched_waking too, for the holds family (the waits' series are the same).
    init(entries: Int, interval: Double, wakers: Bool, bpfTime: Bool, context: ServingContext) throws {
        runTime = BPFRunTimeStatistics(on: bpfTime)
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = ls_bpf_contention_open(Int32(entries), 0, wakers ? 1 : 0, 0, &error, error.count) else {
            throw LockstatError(String(cString: error))
        }
        self.handle = handle
        capacity = entries
        changed = .allocate(capacity: entries)
        lockNames = LockNameDrain(handle)
        addresses = context.addresses
        cgroups = ServeSettings(context.config).cgroups
        cgroupResolver = cgroups ? CgroupResolver(context.system) : nil
        if cgroups, cgroupResolver == nil { context.warn("contention: \(CgroupHierarchy.noMount)") }
        totals = ContentionTotals(maxRows: context.maxSeries, cgroups: cgroups)
        holdEntries = wakers ? .allocate(capacity: Int(LS_BPF_HANDOVER_ENTRIES)) : nil
        holdTotals = HoldTotals(maxRows: context.maxSeries)
        idleDrains = max(2, Int(10 / max(interval, 0.001)))
        // After loading, so the BPF programs' own frames have names (and are dropped).
        guard case .success(let kallsyms) = FileReader.readText(context.system.path("/proc/kallsyms")) else {
            ls_bpf_contention_close(handle)
            throw LockstatError("/proc/kallsyms: cannot be read")
        }
        analysis = ContentionAnalysis(groups: [], symbols: KernelSymbols(kallsyms))
    }

    deinit {
        changed.deallocate()
        holdEntries?.deallocate()
    }

    /// The hold map whole into holdTotals (contention.wakers only), at every sample.
    private func readHolds() {
        guard let holdEntries else { return }
        let n = ls_bpf_contention_holds(handle, holdEntries, Int(LS_BPF_HANDOVER_ENTRIES))
        guard n >= 0 else { return }
        // A row is named as the waits' family names the holder's own wait (same lock and stack):
        // its type and lock label. A hold whose wait is not read yet waits for the next scrape
        // (the map's totals only grow), so no row is ever named "unknown" for good.
        var waits = [HoldKey: (flags: UInt32, kind: UInt32)]()
        let unnamed = (0..<n).contains {
            holdRows[HoldKey(lock: holdEntries[$0].key.lock, stack: holdEntries[$0].key.stack_id)] == nil
        }
        if unnamed {
            for (key, entry) in last {
                waits[HoldKey(lock: key.lock, stack: key.stack)] = (entry.value.flags, entry.value.kind)
            }
        }
        holdTotals.clear()
        for i in 0..<n where holdEntries[i].value.count > 0 {
            let e = holdEntries[i]
            let key = HoldKey(lock: e.key.lock, stack: e.key.stack_id)
            if holdRows[key] == nil {
                guard let wait = waits[key] else { continue }
                holdRows[key] = ContentionTotals.RowKey(
                    caller: (stacks[e.key.stack_id] ?? resolve(e.key.stack_id)).caller,
                    type: ContentionAnalysis.type(wait.flags),
                    lock: ContentionTotals.lockLabel(
                        e.key.lock, kind: wait.kind, analysis: analysis, addresses: addresses))
            }
            holdTotals.add(
                holdRows[key]!, count: e.value.count, total: e.value.total_ns,
                buckets: withUnsafeBytes(of: e.value.buckets) { Array($0.bindMemory(to: UInt32.self)) })
        }
    }

    func sample() {
        let n = ls_bpf_contention_changed(handle, changed, capacity)
        guard n >= 0 else { return }
        // After the entries: a new entry's lock was named before the entry was made.
        analysis.lockNames.add(lockNames.read())
        var seen = Set<BPFAggregates.Key>()
        for i in 0..<n {
            let e = changed[i]
            let key = BPFAggregates.Key(e.key)
            seen.insert(key)
            let before = last[key]?.value
            last[key] = (e.value, 0)
            analysis.lockNames.note(e.key.lock, kind: e.value.kind)
            guard let gained = BPFAggregates.gain(e.value, since: before) else { continue }
            let stack = stacks[e.key.stack_id] ?? resolve(e.key.stack_id)
            // The profile's lock label is a name only: addresses would grow it without bound.
            let named = analysis.lockSymbol(e.key.lock, kind: e.value.kind) ?? ""
            byStack[StackKey(stack: e.key.stack_id, flags: e.value.flags, lock: named), default: (0, 0)].count +=
                gained.count
            byStack[StackKey(stack: e.key.stack_id, flags: e.value.flags, lock: named)]!.total += gained.total
            totals.add(
                .init(
                    caller: stack.caller,
                    type: ContentionAnalysis.type(e.value.flags),
                    lock: ContentionTotals.lockLabel(
                        e.key.lock, kind: e.value.kind, analysis: analysis, addresses: addresses),
                    cgroup: cgroups ? cgroupName(e.key.cgroup) : ""),
                count: gained.count, total: gained.total, buckets: gained.buckets)
        }
        // Holds are named from the waits just read, before idle waits are forgotten.
        readHolds()
        var idle = [ls_bpf_key]()
        for (key, entry) in last where !seen.contains(key) {
            if entry.idle + 1 >= idleDrains {
                idle.append(key.bpfKey)
            } else {
                last[key]!.idle += 1
            }
        }
        if !idle.isEmpty, ls_bpf_contention_forget(handle, idle, idle.count) >= 0 {
            for k in idle { last[BPFAggregates.Key(k)] = nil }
            analysis.lockNames.prune(live: Set(last.keys.map(\.lock)))
        }
    }

    /// A cgroup's path, resolved when first seen (the names kept stay bounded, as top's task names).
    private func cgroupName(_ id: UInt64) -> String {
        if let known = cgroupNames[id] { return known }
        let name = cgroupResolver?.path(id) ?? String(id)
        if cgroupNames.count >= 65536 { cgroupNames.removeAll(keepingCapacity: true) }
        cgroupNames[id] = name
        return name
    }

    private func resolve(_ id: Int32) -> (caller: String, frames: [UInt64]) {
        var frames = [UInt64](repeating: 0, count: Int(LS_BPF_MAX_STACK))
        let n = id < 0 ? 0 : Int(ls_bpf_contention_stack(handle, id, &frames, LS_BPF_MAX_STACK))
        let stack = analysis.withoutTracingFrames(Array(frames.prefix(n)))
        let resolved = (id < 0 ? "[no stack]" : analysis.caller(stack), stack)
        stacks[id] = resolved
        return resolved
    }

    var profileNames: [String] { [ContentionModule.profileName] }

    /// The contentions since serve started as `lockstat export --format pprof` has a run's.
    func profiles() -> [(name: String, profile: StackProfile)] {
        var profile = ContentionModule.newProfile()
        profile.timeNanos = startRealtime
        profile.durationNanos = StackProfile.wallClockNanoseconds() - startRealtime
        for (key, sum) in byStack {
            let stack = stacks[key.stack] ?? resolve(key.stack)
            profile.add(
                frames: ContentionModule.profileFrames(stack.frames, symbols: analysis.symbols),
                values: [Int64(sum.count), Int64(clamping: sum.total)],
                labels: ContentionModule.profileLabels(caller: stack.caller, flags: key.flags, lock: key.lock))
        }
        return [(ContentionModule.profileName, profile)]
    }

    func families() -> [MetricFamily] {
        sample()
        var counters = [UInt64](repeating: 0, count: Int(LS_BPF_COUNTERS.rawValue))
        ls_bpf_contention_counters(handle, &counters)
        var ns: UInt64 = 0
        var runs: UInt64 = 0
        ls_bpf_contention_run_time(handle, &ns, &runs)
        let lost = MetricFamily(
            name: "lockstat_lost_events", kind: .counter,
            help: "Events lockstat could not count since it started, by module and reason",
            labels: ["module", "reason"],
            points: [
                MetricPoint(
                    labels: ["contention", "map_full"], value: Double(counters[Int(LS_BPF_MAP_FULL.rawValue)])),
                MetricPoint(
                    labels: ["contention", "no_start_time"], value: Double(counters[Int(LS_BPF_TSTAMP_FAILED.rawValue)])
                ),
                MetricPoint(
                    labels: ["contention", "bpf_recursion"],
                    value: Double(counters[Int(LS_BPF_RECURSION_MISSED.rawValue)])),
            ])
        var families = totals.families + [lost]
        if holdEntries != nil { families += holdTotals.families }
        if runTime.isOn || ns > 0 {
            families.append(
                MetricFamily(
                    name: "lockstat_bpf_program_seconds", kind: .counter, unit: "seconds",
                    help: "Time the contention module's BPF programs ran in the kernel (contention.bpf_time yes)",
                    labels: [], points: [MetricPoint(labels: [], value: Double(ns) / 1e9)]))
        }
        return families
    }

    func stop() {
        ls_bpf_contention_close(handle)
        runTime.stop()
    }
}

extension ContentionModule: ServedModule {
    public func serving(_ context: ServingContext) throws -> any MetricsSource {
        if let reason = Self.bpfRefusal(context.system) { throw LockstatError("serve needs bpf mode: \(reason)") }
        let settings = ContentionSettings(context.config)
        return try ContentionSource(
            entries: settings.entries, interval: context.config.interval(for: name, moduleDefault: Self.bpfInterval),
            wakers: settings.wakers, bpfTime: settings.bpfTime, context: context)
    }

    /// The run's totals as serve would have exposed them at its end.
    /// `cgroups`: labelled by cgroup (serve.cgroups yes, a run that keyed its waits by cgroup).
    func metricFamilies(_ data: ContentionData, addresses: Bool, cgroups: Bool = false) -> [MetricFamily] {
        let paths = cgroups ? data.cgroupPaths : nil
        var totals = ContentionTotals(cgroups: paths != nil)
        for c in data.analysis.contentions {
            // Ring mode: a wait still going on when the run ended has no length; it counts in +Inf.
            var buckets = c.buckets
            if buckets == nil, c.waited == 0 {
                buckets = Array(repeating: 0, count: Int(LS_BPF_BUCKETS))
                buckets![buckets!.count - 1] = UInt32(c.count)
            }
            totals.add(
                .init(
                    caller: c.caller, type: ContentionAnalysis.type(c.flags),
                    lock: ContentionTotals.lockLabel(
                        c.lock, kind: c.kind, analysis: data.analysis, addresses: addresses),
                    cgroup: paths.map { CgroupHierarchy.name(c.cgroup, paths: $0) } ?? ""),
                count: UInt64(c.count), total: c.total, buckets: buckets)
        }
        return totals.families + [
            MetricFamily(
                name: "lockstat_lost_events", kind: .counter,
                help: "Events lockstat could not count, by module and reason",
                labels: ["module", "reason"],
                points: [MetricPoint(labels: ["contention", "lost"], value: Double(data.lost))])
        ]
    }
}
