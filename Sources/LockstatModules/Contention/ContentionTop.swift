import CLockstat
import Foundation
import LockstatCore

/// What each aggregation entry gained between two readings of the bpf mode's maps: one interval
/// of `lockstat top`. Pure, so the unit tier checks it on entries made by hand.
struct ContentionTopReadings {
    struct Waits: Equatable {
        var key: BPFAggregates.Key
        var count: UInt64
        var total: UInt64
        /// The interval's longest wait (ns): exact when it set the entry's maximum, else the
        /// upper bound of the highest bucket the interval added to (never above that maximum).
        var max: UInt64
        var flags: UInt32
        var kind: UInt32
    }

    struct OwnerWaits: Equatable {
        var lock: UInt64
        var tid: UInt32
        var count: UInt64
        var total: UInt64
    }

    /// Each entry as last read, and for how many readings it has not changed.
    private(set) var last: [BPFAggregates.Key: (value: ls_bpf_value, idle: Int)] = [:]
    private var lastOwners: [BPFAggregates.OwnerKey: ls_bpf_owner_value] = [:]

    /// The gains of the entries that changed (as the drain returns them).
    mutating func waits(_ changed: UnsafeBufferPointer<ls_bpf_entry>) -> [Waits] {
        var out = [Waits]()
        var seen = Set<BPFAggregates.Key>()
        for e in changed {
            let key = BPFAggregates.Key(e.key)
            seen.insert(key)
            let before = last[key]?.value
            last[key] = (e.value, 0)
            guard let gained = BPFAggregates.gain(e.value, since: before) else { continue }
            out.append(
                Waits(
                    key: key, count: gained.count, total: gained.total,
                    max: Self.intervalMax(e.value, since: before, buckets: gained.buckets), flags: e.value.flags,
                    kind: e.value.kind))
        }
        for key in last.keys where !seen.contains(key) { last[key]!.idle += 1 }
        return out
    }

    /// Entries unchanged for `readings` readings: deleted from the map (so it never fills) and
    /// forgotten here; a wait under one later starts a new entry from zero.
    mutating func idle(for readings: Int) -> [BPFAggregates.Key] {
        let idle = last.filter { $0.value.idle >= readings }.map(\.key)
        for key in idle { last[key] = nil }
        return idle
    }

    mutating func owners(_ changed: UnsafeBufferPointer<ls_bpf_owner_entry>) -> [OwnerWaits] {
        changed.compactMap { e in
            let key = BPFAggregates.OwnerKey(lock: e.key.lock, tid: e.key.owner_tid)
            let before = lastOwners[key]
            lastOwners[key] = e.value
            let count = e.value.count &- (before?.count ?? 0)
            guard count > 0, count <= e.value.count else { return nil }
            return OwnerWaits(
                lock: e.key.lock, tid: e.key.owner_tid, count: count, total: e.value.total_ns &- (before?.total_ns ?? 0)
            )
        }
    }

    static func intervalMax(_ value: ls_bpf_value, since before: ls_bpf_value?, buckets: [UInt32]) -> UInt64 {
        guard let before, value.max_ns <= before.max_ns else { return value.max_ns }
        guard let highest = buckets.lastIndex(where: { $0 > 0 }) else { return 0 }
        let bound = highest >= 63 ? UInt64.max : (UInt64(1) << UInt64(highest + 1)) - 1
        return Swift.min(bound, value.max_ns)
    }
}

/// One interval's rows of `lockstat top`, grouped and sorted, and their drawing as a LiveTable.
struct ContentionTopTable {
    struct Row: Equatable {
        var key: String
        var type: String
        var count: UInt64 = 0
        var total: UInt64 = 0
        var max: UInt64 = 0
        /// The entry with the most wait in the row: its stack (the detail; -1 when none) and wait.
        var stack: Int32 = -1
        var stackWait: UInt64 = 0
    }

    static let sortKeys = ["wait", "contentions", "max", "avg"]
    static let groupings = [
        LiveGrouping(key: "c", name: "caller"), LiveGrouping(key: "l", name: "lock"),
        LiveGrouping(key: "t", name: "task"), LiveGrouping(key: "o", name: "owner"),
        LiveGrouping(key: "g", name: "cgroup"),
    ]

    /// The waits grouped by the waiting task's cgroup: its v2 path, or its id where `paths` has none.
    static func cgroupRows(_ waits: [ContentionTopReadings.Waits], paths: [UInt64: String]) -> [Row] {
        rows(waits) { CgroupHierarchy.name($0.key.cgroup, paths: paths) }
    }

    /// The waits grouped by `name` of each (the owner grouping uses `owners`).
    static func rows(_ waits: [ContentionTopReadings.Waits], name: (ContentionTopReadings.Waits) -> String) -> [Row] {
        var rows = [String: Row]()
        for w in waits {
            let k = name(w)
            var r = rows[k] ?? Row(key: k, type: ContentionAnalysis.type(w.flags))
            r.count += w.count
            r.total += w.total
            r.max = Swift.max(r.max, w.max)
            // A row of several lock types (a task's) shows the one it waited on most, with its stack.
            if w.total >= r.stackWait || r.stack < 0 {
                (r.stack, r.stackWait, r.type) = (w.key.stack, w.total, ContentionAnalysis.type(w.flags))
            }
            rows[k] = r
        }
        return Array(rows.values)
    }

    /// Owners: waits behind each owner task (lock type and longest wait are not kept per owner).
    static func ownerRows(_ owners: [ContentionTopReadings.OwnerWaits], name: (UInt32) -> String) -> [Row] {
        var rows = [String: Row]()
        for o in owners {
            let k = name(o.tid)
            rows[k, default: Row(key: k, type: "-")].count += o.count
            rows[k]!.total += o.total
        }
        return Array(rows.values)
    }

    /// Sorted by `sortKeys[sort]`, largest first; ties by key.
    static func sorted(_ rows: [Row], sort: Int) -> [Row] {
        func value(_ r: Row) -> UInt64 {
            switch sortKeys[sort % sortKeys.count] {
            case "contentions": return r.count
            case "max": return r.max
            case "avg": return r.count > 0 ? r.total / r.count : 0
            default: return r.total
            }
        }
        return rows.sorted { (value($0), $1.key) > (value($1), $0.key) }
    }

    static func columns(keyTitle: String) -> [LiveColumn] {
        [
            LiveColumn("contentions/s", width: 13), LiveColumn("wait/s", width: 10),
            LiveColumn("avg", width: 9, dropRank: 2), LiveColumn("max wait", width: 9, dropRank: 3),
            LiveColumn("type", width: 14, dropRank: 1), LiveColumn(keyTitle, width: 0),
        ]
    }

    /// Rates per second of the measured interval; durations in perf's units (wait/s: waiting per second).
    static func cells(_ r: Row, seconds: Double, owners: Bool) -> [String] {
        let perSecond = seconds > 0 ? 1 / seconds : 0
        return [
            String(format: "%.0f", Double(r.count) * perSecond),
            Durations.text(seconds: Double(r.total) / 1e9 * perSecond),
            Durations.text(seconds: r.count > 0 ? Double(r.total) / Double(r.count) / 1e9 : 0),
            owners ? "-" : Durations.text(seconds: Double(r.max) / 1e9), r.type, r.key,
        ]
    }

    /// The header: the interval's totals (all rows, not only those shown), lost waits and lockstat's CPU.
    static func header(
        clock: String, seconds: Double, count: UInt64, total: UInt64, lost: UInt64, cpuShare: Double, scope: String
    ) -> String {
        let perSecond = seconds > 0 ? 1 / seconds : 0
        return
            "\(clock) \(String(format: "%.2f", seconds)) s: \(count) contentions "
            + "\(String(format: "%.0f", Double(count) * perSecond))/s, "
            + "wait \(Durations.text(seconds: Double(total) / 1e9 * perSecond))/s, \(lost) lost, "
            + "lockstat CPU \(String(format: "%.1f", cpuShare * 100)) %, \(scope)"
    }
}

/// `lockstat top`'s source: bpf mode's programs loaded as a run loads them; each interval reads
/// the entries that changed (the existing drain), the owners and the counters.
final class ContentionTop: LiveSource {
    private let handle: OpaquePointer
    private let capacity: Int
    private let changed: UnsafeMutablePointer<ls_bpf_entry>
    private let ownerEntries: UnsafeMutablePointer<ls_bpf_owner_entry>
    private static let ownerCapacity = 4096
    private var analysis: ContentionAnalysis
    private let lockNames: LockNameDrain
    private let scope: LiveScope
    private var readings = ContentionTopReadings()
    private var callers: [Int32: String] = [:]
    private var comms: [UInt32: String] = [:]
    private static let maxNames = 65536
    /// Cgroup ids to paths (nil without a v2 mount: ids shown), each resolved when first seen.
    private let cgroups: CgroupResolver?
    private var cgroupPaths: [UInt64: String] = [:]
    private var waits: [ContentionTopReadings.Waits] = []
    private var owners: [ContentionTopReadings.OwnerWaits] = []
    private var seconds = 0.0
    private var lost: UInt64 = 0
    private var cpuShare = 0.0
    private var counters = [UInt64](repeating: 0, count: Int(LS_BPF_COUNTERS.rawValue))
    /// The counters when the first interval began.
    private var baseline = [UInt64](repeating: 0, count: Int(LS_BPF_COUNTERS.rawValue))
    private var cpuBefore: UInt64 = 0
    private var intervals = 0
    private var contentions: UInt64 = 0
    /// Entries unchanged for 10 s are deleted, as serve does: the map holds only what waited lately.
    private static let idleSeconds = 10.0

    init(system: SystemRoot, scope: LiveScope) throws {
        var error = [CChar](repeating: 0, count: 512)
        let entries = ContentionSettings().entries
        guard let handle = ls_bpf_contention_open(Int32(entries), scope == .system ? 0 : 1, 0, 0, &error, error.count)
        else {
            throw LockstatError("bpf mode cannot load: " + String(cString: error))
        }
        self.handle = handle
        self.scope = scope
        capacity = entries
        changed = .allocate(capacity: entries)
        ownerEntries = .allocate(capacity: Self.ownerCapacity)
        lockNames = LockNameDrain(handle)
        if case .processes(let pids) = scope {
            // The BPF programs follow what a followed process forks from now on; what it forked
            // before (a server's workers) is followed here.
            for pid in pids.flatMap(Self.withDescendants) { _ = ls_bpf_contention_follow(handle, UInt32(pid)) }
        }
        // After loading, so the BPF programs' own frames have names (and are dropped).
        guard case .success(let kallsyms) = FileReader.readText(system.path("/proc/kallsyms")) else {
            ls_bpf_contention_close(handle)
            throw LockstatError("/proc/kallsyms: cannot be read")
        }
        analysis = ContentionAnalysis(groups: [], symbols: KernelSymbols(kallsyms))
        cgroups = CgroupResolver(system)
        // What waited while loading is no interval's: the first one starts now, as the core's clock does.
        ls_bpf_contention_counters(handle, &baseline)
        counters = baseline
        _ = readings.waits(
            UnsafeBufferPointer(start: changed, count: max(0, ls_bpf_contention_changed(handle, changed, capacity))))
        analysis.lockNames.add(lockNames.read())
        let o = ls_bpf_contention_owners_changed(handle, ownerEntries, Self.ownerCapacity)
        _ = readings.owners(UnsafeBufferPointer(start: ownerEntries, count: max(0, o)))
        // Loading is not a refresh's cost.
        cpuBefore = LockstatCPU.nanoseconds()
    }

    /// `pid` and the processes it forked, and theirs (/proc/PID/task/TID/children).
    static func withDescendants(_ pid: pid_t) -> [pid_t] {
        var found = [pid_t]()
        var seen = Set<pid_t>()
        var pending = [pid]
        while let next = pending.popLast() {
            guard seen.insert(next).inserted else { continue }
            found.append(next)
            let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(next)/task")) ?? []
            for tid in tasks {
                guard case .success(let text) = FileReader.readText("/proc/\(next)/task/\(tid)/children") else {
                    continue
                }
                pending += text.split(separator: " ").compactMap {
                    pid_t($0.trimmingCharacters(in: .whitespacesAndNewlines))
                }
            }
        }
        return found
    }

    deinit {
        changed.deallocate()
        ownerEntries.deallocate()
    }

    var groupings: [LiveGrouping] { ContentionTopTable.groupings }
    var sortKeys: [String] { ContentionTopTable.sortKeys }

    func follow(_ pid: pid_t) { _ = ls_bpf_contention_follow(handle, UInt32(pid)) }

    func advance(seconds: Double) {
        let lostBefore = lost(counters)
        ls_bpf_contention_counters(handle, &counters)
        let n = ls_bpf_contention_changed(handle, changed, capacity)
        waits = readings.waits(UnsafeBufferPointer(start: changed, count: max(0, n)))
        analysis.lockNames.add(lockNames.read())
        for w in waits { analysis.lockNames.note(w.key.lock, kind: w.kind) }
        let o = ls_bpf_contention_owners_changed(handle, ownerEntries, Self.ownerCapacity)
        owners = o > 0 ? readings.owners(UnsafeBufferPointer(start: ownerEntries, count: o)) : []
        let idle = readings.idle(for: max(2, Int(Self.idleSeconds / max(seconds, 0.001))))
        if !idle.isEmpty {
            let keys = idle.map(\.bpfKey)
            _ = ls_bpf_contention_forget(handle, keys, keys.count)
            analysis.lockNames.prune(live: Set(readings.last.keys.map(\.lock)))
        }
        self.seconds = seconds
        lost = lost(counters) &- lostBefore
        let cpu = LockstatCPU.nanoseconds()
        cpuShare = seconds > 0 ? Double(cpu &- cpuBefore) / 1e9 / seconds : 0
        cpuBefore = cpu
        intervals += 1
        contentions += waits.reduce(0) { $0 + $1.count }
    }

    private func lost(_ c: [UInt64]) -> UInt64 {
        c[Int(LS_BPF_MAP_FULL.rawValue)] + c[Int(LS_BPF_TSTAMP_FAILED.rawValue)]
    }

    func table(grouping: Character, sort: Int) -> LiveTable {
        let rows: [ContentionTopTable.Row]
        let keyTitle: String
        switch grouping {
        case "l":
            (rows, keyTitle) = (
                ContentionTopTable.rows(waits) { analysis.lockName($0.key.lock, kind: $0.kind) }, "lock"
            )
        case "t": (rows, keyTitle) = (ContentionTopTable.rows(waits) { task($0.key.tid) }, "task")
        case "o": (rows, keyTitle) = (ContentionTopTable.ownerRows(owners) { task($0) }, "owner (mutex, rwsem)")
        case "g":
            resolveCgroups()
            (rows, keyTitle) = (ContentionTopTable.cgroupRows(waits, paths: cgroupPaths), "cgroup")
        default: (rows, keyTitle) = (ContentionTopTable.rows(waits) { caller($0.key.stack) }, "caller")
        }
        let sorted = ContentionTopTable.sorted(rows, sort: sort)
        let clock = Date().formatted(.dateTime.hour(.twoDigits(amPM: .omitted)).minute(.twoDigits).second(.twoDigits))
        let header = ContentionTopTable.header(
            clock: clock, seconds: seconds, count: waits.reduce(0) { $0 + $1.count },
            total: waits.reduce(0) { $0 + $1.total }, lost: lost, cpuShare: cpuShare, scope: scopeText)
        return LiveTable(
            header: header, columns: ContentionTopTable.columns(keyTitle: keyTitle),
            rows: sorted.map { ContentionTopTable.cells($0, seconds: seconds, owners: grouping == "o") },
            detail: grouping == "o" ? ["(an owner's own stack is not taken)"] : stack(sorted.first?.stack))
    }

    private var scopeText: String {
        switch scope {
        case .system: return "system-wide"
        case .processes(let pids): return "pid " + pids.map(String.init).joined(separator: ",")
        case .program: return "the program"
        }
    }

    /// The BPF programs' counts since the first interval began.
    var totalsLine: String {
        func since(_ c: ls_bpf_counter) -> UInt64 { counters[Int(c.rawValue)] &- baseline[Int(c.rawValue)] }
        return "total: \(contentions) contentions in \(intervals) intervals; the BPF programs recorded "
            + "\(since(LS_BPF_RECORDED)) of \(since(LS_BPF_BEGINS)) begins, lost \(lost(counters) &- lost(baseline))"
    }

    private func frames(_ id: Int32) -> [UInt64] {
        var frames = [UInt64](repeating: 0, count: Int(LS_BPF_MAX_STACK))
        let n = id < 0 ? 0 : Int(ls_bpf_contention_stack(handle, id, &frames, LS_BPF_MAX_STACK))
        return analysis.withoutTracingFrames(Array(frames.prefix(n)))
    }

    private func caller(_ id: Int32) -> String {
        if let known = callers[id] { return known }
        let caller = id < 0 ? "[no stack]" : analysis.caller(frames(id))
        callers[id] = caller
        return caller
    }

    private func stack(_ id: Int32?) -> [String] {
        guard let id, id >= 0 else { return id == nil ? [] : ["[no stack]"] }
        return frames(id).map { analysis.symbols.function($0) ?? "0x" + String($0, radix: 16) }
    }

    /// Paths of the interval's cgroups not resolved yet (a cgroup gone since keeps its id).
    private func resolveCgroups() {
        guard let cgroups else { return }
        if cgroupPaths.count >= Self.maxNames { cgroupPaths.removeAll(keepingCapacity: true) }
        for w in waits where cgroupPaths[w.key.cgroup] == nil {
            if let path = cgroups.path(w.key.cgroup) { cgroupPaths[w.key.cgroup] = path }
        }
    }

    private func task(_ tid: UInt32) -> String {
        if let known = comms[tid] { return known }
        var name = [CChar](repeating: 0, count: Int(LS_BPF_COMM) + 1)
        // A task not named yet may be later: only names are kept.
        guard ls_bpf_contention_comm(handle, tid, &name) == 0 else { return String(tid) }
        let text = "\(tid) \(String(cString: name))"
        // Tasks come and go for as long as top runs: the names kept stay bounded.
        if comms.count >= Self.maxNames { comms.removeAll(keepingCapacity: true) }
        comms[tid] = text
        return text
    }

    func stop() { ls_bpf_contention_close(handle) }
}

extension ContentionModule: LiveModule {
    public func liveRefusal(_ system: SystemRoot) -> String? { Self.bpfRefusal(system) }

    public func live(_ system: SystemRoot, scope: LiveScope) throws -> any LiveSource {
        try ContentionTop(system: system, scope: scope)
    }
}
