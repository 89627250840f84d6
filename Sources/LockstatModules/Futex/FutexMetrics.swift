import CLockstat
import Foundation
import LockstatCore

/// Futex waits since lockstat started, by process, lock word and kind, as two counter families:
/// `lockstat_futex_wait_seconds` the time the waits slept (woken, timed out or interrupted),
/// `lockstat_futex_waits` the wait calls by how they ended (a call that found the word changed
/// did not sleep: counted, not timed). The kernel keeps no histogram of futex waits: counters only.
struct FutexTotals {
    struct RowKey: Hashable { let process: String, lock: String, kind: String }
    private var rows: [RowKey: (calls: [UInt64], slept: UInt64)] = [:]
    private var order: [RowKey] = []
    /// Rows kept apart; waits of rows beyond them go to one `other` row, so memory stays bounded
    /// however many processes and lock words serve sees.
    private let maxRows: Int
    static let other = RowKey(
        process: ExposedSeries.otherLabel, lock: ExposedSeries.otherLabel, kind: ExposedSeries.otherLabel)
    static let outcomes = ["woken", "timed_out", "interrupted", "no_sleep", "error"]
    private var lost: (mapFull: UInt64, noStart: UInt64) = (0, 0)

    init(maxRows: Int = .max) { self.maxRows = maxRows }

    /// A lock word's label: its name (`heavy_lock (prog)`, `libc.so.6+0x1f0`); a heap, stack or
    /// anonymous mapping's name without the offset in it unless `addresses` (an offset there is
    /// an address, unbounded in number); `[unmapped]` for a word in no mapping, likewise.
    static func lockLabel(_ name: String, addresses: Bool) -> String {
        if addresses { return name }
        if name.hasPrefix("0x") { return "[unmapped]" }
        // The offset follows the mapping's closing bracket (a memfd's name may hold a `+`).
        if name.hasPrefix("["), let plus = name.range(of: "]+", options: .backwards) {
            return String(name[...plus.lowerBound])
        }
        return name
    }

    /// Waits of one row that ended one way (`outcome`, an `ls_futex_outcome`): `count` calls, `total` ns slept.
    mutating func add(_ wanted: RowKey, outcome: UInt32, count: UInt64, total: UInt64) {
        var key = wanted
        if rows[key] == nil {
            if order.count >= maxRows { key = Self.other }
            if rows[key] == nil { rows[key] = (Array(repeating: 0, count: Self.outcomes.count), 0) }
            if key != Self.other { order.append(key) }
        }
        rows[key]!.calls[min(Int(outcome), Self.outcomes.count - 1)] += count
        if outcome != LS_FUTEX_NO_SLEEP.rawValue && outcome != LS_FUTEX_OTHER_ERROR.rawValue {
            rows[key]!.slept += total
        }
    }

    /// The kernel's counts of waits it could not aggregate (LS_FUTEX_MAP_FULL, LS_FUTEX_STARTS_FULL).
    mutating func setLost(mapFull: UInt64, noStart: UInt64) { lost = (mapFull, noStart) }

    var families: [MetricFamily] {
        let labels = ["process", "lock", "kind"]
        var slept = MetricFamily(
            name: "lockstat_futex_wait_seconds", kind: .counter, unit: "seconds",
            help:
                "Time user-space lock waits slept in the kernel (futex waits woken, timed out or interrupted) by process, lock word and kind since lockstat started",
            labels: labels)
        var calls = MetricFamily(
            name: "lockstat_futex_waits", kind: .counter,
            help:
                "Futex wait calls by process, lock word, kind and how they ended (no_sleep: the word had changed, not timed) since lockstat started",
            labels: labels + ["outcome"])
        for key in order + (rows[Self.other] == nil ? [] : [Self.other]) {
            guard let r = rows[key] else { continue }
            let values = [key.process, key.lock, key.kind]
            slept.points.append(MetricPoint(labels: values, value: Double(r.slept) / 1e9))
            for (i, n) in r.calls.enumerated() where n > 0 {
                calls.points.append(MetricPoint(labels: values + [Self.outcomes[i]], value: Double(n)))
            }
        }
        let lostFamily = MetricFamily(
            name: "lockstat_futex_lost_waits", kind: .counter,
            help: "Futex waits the kernel could not aggregate since lockstat started, by reason",
            labels: ["reason"],
            points: [
                MetricPoint(labels: ["map_full"], value: Double(lost.mapFull)),
                MetricPoint(labels: ["no_start_time"], value: Double(lost.noStart)),
            ])
        return [slept, calls, lostFamily]
    }

    /// A finished run's totals, as serve would have exposed them at its end.
    init(_ analysis: FutexAnalysis, addresses: Bool) {
        self.init()
        for n in analysis.waits {
            add(
                RowKey(
                    process: analysis.processNames[n.wait.tgid] ?? "",
                    lock: Self.lockLabel(n.lock, addresses: addresses), kind: n.kind.rawValue),
                outcome: n.wait.outcome, count: n.wait.count, total: n.wait.total)
        }
        setLost(
            mapFull: analysis.counters[Int(LS_FUTEX_MAP_FULL.rawValue)],
            noStart: analysis.counters[Int(LS_FUTEX_STARTS_FULL.rawValue)])
    }
}

/// serve's futex (and `lockstat top`'s): every task's futex waits (serve runs no program to
/// follow; top may follow one), aggregated in the kernel; every interval the changed entries are
/// folded into the totals and entries idle for 10 s are deleted, so the map holds only what
/// waited lately. Lock words are named from the process's maps read when it is first seen
/// (again when a word is in none of them); kinds from the frame-pointer walk with the scanned
/// return addresses (serve unwinds no stack copies: it drains them unread, so no stack bytes are kept).
final class FutexSource: MetricsSource {
    private let handle: OpaquePointer
    private let capacity: Int
    private let changed: UnsafeMutablePointer<ls_futex_entry>
    private let addresses: Bool
    private let idleDrains: Int
    private var last: [Data: (count: UInt64, total: UInt64, max: UInt64, idle: Int, row: FutexTotals.RowKey)] = [:]
    private var totals: FutexTotals
    private var spaces: [UInt32: AddressSpaces] = [:]
    private var processNames: [UInt32: String] = [:]
    /// Live entries per process: a process with none left is forgotten (its id may be reused).
    private var entriesOf: [UInt32: Int] = [:]
    private var lockNames = LockWordNames()
    private let symbols = Symbolizer(kernel: KernelSymbols(""))
    /// Per process, the kind of each call path (the key without the lock word, waiter task and waker).
    private var kinds: [UInt32: [Data: FutexKind]] = [:]
    private let system: SystemRoot

    convenience init(entries: Int, interval: Double, context: ServingContext) throws {
        try self.init(
            entries: entries, interval: interval, addresses: context.addresses, maxRows: context.maxSeries,
            system: context.system, scopeProgram: false)
    }

    /// `scopeProgram`: only the processes followed (`follow`) and what they fork.
    init(entries: Int, interval: Double, addresses: Bool, maxRows: Int, system: SystemRoot, scopeProgram: Bool) throws {
        var error = [CChar](repeating: 0, count: 512)
        guard let handle = ls_bpf_futex_open(Int32(entries), scopeProgram ? 1 : 0, &error, error.count) else {
            throw LockstatError(String(cString: error))
        }
        self.handle = handle
        capacity = entries
        changed = .allocate(capacity: entries)
        self.addresses = addresses
        self.system = system
        totals = FutexTotals(maxRows: maxRows)
        idleDrains = max(2, Int(10 / max(interval, 0.001)))
    }

    func follow(_ tgid: UInt32) { _ = ls_bpf_futex_follow(handle, tgid) }

    deinit { changed.deallocate() }

    func sample() {
        drain { row, entry, count, total, _ in totals.add(row, outcome: entry.key.outcome, count: count, total: total) }
    }

    /// The entries that changed since the last drain, each with its row and what it gained:
    /// waits, ns, and its longest wait when this interval set it (else 0).
    func drain(_ gainedBy: (FutexTotals.RowKey, ls_futex_entry, UInt64, UInt64, UInt64) -> Void) {
        var bytes: UnsafePointer<UInt8>?
        _ = ls_bpf_futex_samples(handle, &bytes)
        let n = ls_bpf_futex_changed(handle, changed, capacity)
        guard n >= 0 else { return }
        // The maps of each process first seen, before any naming (reading symbols takes long):
        // a short-lived process is still there to read.
        for i in 0..<n where spaces[changed[i].key.tgid] == nil { readMaps(changed[i].key.tgid) }
        var seen = Set<Data>()
        for i in 0..<n {
            let e = changed[i]
            let key = withUnsafeBytes(of: e.key) { Data($0) }
            seen.insert(key)
            let before = last[key]
            if before == nil { entriesOf[e.key.tgid, default: 0] += 1 }
            let row = before?.row ?? self.row(e.key)
            last[key] = (e.value.count, e.value.total_ns, e.value.max_ns, 0, row)
            // A count below the last reading: the entry was deleted and started again from zero.
            let gained =
                before.map { e.value.count >= $0.count ? (e.value.count - $0.count, e.value.total_ns &- $0.total) : nil }
                ?? (e.value.count, e.value.total_ns)
            guard let gained, gained.0 > 0 else { continue }
            gainedBy(row, e, gained.0, gained.1, e.value.max_ns > (before?.max ?? 0) ? e.value.max_ns : 0)
        }
        var idle = [ls_futex_key]()
        for (key, entry) in last where !seen.contains(key) {
            if entry.idle + 1 >= idleDrains {
                idle.append(key.withUnsafeBytes { $0.loadUnaligned(as: ls_futex_key.self) })
            } else {
                last[key]!.idle += 1
            }
        }
        if !idle.isEmpty, ls_bpf_futex_forget(handle, idle, idle.count) >= 0 {
            for k in idle {
                last[withUnsafeBytes(of: k) { Data($0) }] = nil
                entriesOf[k.tgid, default: 1] -= 1
                if entriesOf[k.tgid] == 0 {
                    entriesOf[k.tgid] = nil
                    spaces[k.tgid] = nil
                    processNames[k.tgid] = nil
                    kinds[k.tgid] = nil
                }
            }
        }
    }

    /// The row a new entry's waits count in: its process, lock word and kind, named now.
    private func row(_ key: ls_futex_key) -> FutexTotals.RowKey {
        if spaces[key.tgid] == nil { readMaps(key.tgid) }
        var name = lockNames.name(key.uaddr, pid: key.tgid, maps: spaces[key.tgid]?.mappings(pid: key.tgid) ?? [])
        // A word in no mapping seen: mapped since (dlopen, mmap), read the maps again once.
        if name.hasPrefix("0x") {
            readMaps(key.tgid)
            name = lockNames.name(key.uaddr, pid: key.tgid, maps: spaces[key.tgid]?.mappings(pid: key.tgid) ?? [])
        }
        return FutexTotals.RowKey(
            process: processNames[key.tgid] ?? taskName(key.tid), lock: FutexTotals.lockLabel(name, addresses: addresses),
            kind: kind(key).rawValue)
    }

    /// The kind from the waiter's frames, once per call path (process, stack id, scanned words).
    private func kind(_ key: ls_futex_key) -> FutexKind {
        var site = key
        site.uaddr = 0
        site.tid = 0
        site.kernel_stack = 0
        site.waker_user_stack = 0
        site.waker_kernel_stack = 0
        site.waker_tid = 0
        site.waker_tgid = 0
        site.outcome = 0
        site.op = 0
        site.waker_scanned = (0, 0, 0, 0)
        let siteKey = withUnsafeBytes(of: site) { Data($0) }
        if let known = kinds[key.tgid]?[siteKey] { return known }
        let kind = FutexKind.classify(waiterFrames(key).map(\.symbol))
        kinds[key.tgid, default: [:]][siteKey] = kind
        return kind
    }

    /// The waiter's frames, innermost first: the frame-pointer walk with the scanned return addresses.
    func waiterFrames(_ key: ls_futex_key) -> [Symbolizer.Frame] {
        var ips = [UInt64](repeating: 0, count: Int(LS_FUTEX_MAX_STACK))
        let count = Int(ls_bpf_futex_stack(handle, key.user_stack, &ips, LS_FUTEX_MAX_STACK))
        let space = spaces[key.tgid]
        let walked = ips.prefix(count).enumerated().map { i, ip in
            symbols.userFrame(ip, in: space?.mapping(pid: key.tgid, address: ip), returnAddress: i > 0)
        }
        let scanned = withUnsafeBytes(of: key.scanned) { Array($0.bindMemory(to: UInt64.self)) }.filter { $0 != 0 }
            .map { symbols.userFrame($0, in: space?.mapping(pid: key.tgid, address: $0), returnAddress: true) }
            .filter { $0.symbol != Symbolizer.unknownSymbol }
        return FutexAnalysis.merged(fp: walked, scanned: scanned)
    }

    /// The kernel's counters (ls_futex_counter).
    var counters: [UInt64] {
        var counters = [UInt64](repeating: 0, count: Int(LS_FUTEX_COUNTERS.rawValue))
        ls_bpf_futex_counters(handle, &counters)
        return counters
    }

    /// A task's name as the BPF programs kept it: a process gone before its maps were read.
    private func taskName(_ tid: UInt32) -> String {
        var comm = [CChar](repeating: 0, count: Int(LS_FUTEX_COMM) + 1)
        guard ls_bpf_futex_comm(handle, tid, &comm) == 0 else { return "" }
        return String(cString: comm)
    }

    private func readMaps(_ tgid: UInt32) {
        let proc = system.path("/proc/\(tgid)")
        guard case .success(let maps) = FileReader.readText(proc + "/maps") else { return }
        let comm = (try? FileReader.readText(proc + "/comm").get())?.trimmingCharacters(in: .whitespacesAndNewlines)
        var space = AddressSpaces()
        space.load(snapshot: "= \(tgid) \(comm ?? "")\n" + maps)
        spaces[tgid] = space
        if processNames[tgid] == nil { processNames[tgid] = comm ?? "" }
    }

    func families() -> [MetricFamily] {
        sample()
        let counters = self.counters
        totals.setLost(
            mapFull: counters[Int(LS_FUTEX_MAP_FULL.rawValue)], noStart: counters[Int(LS_FUTEX_STARTS_FULL.rawValue)])
        return totals.families
    }

    func stop() { ls_bpf_futex_close(handle) }
}

extension FutexModule: ServedModule {
    public func serving(_ context: ServingContext) throws -> any MetricsSource {
        try FutexSource(
            entries: FutexSettings(context.config).entries,
            interval: context.config.interval(for: name, moduleDefault: defaultInterval ?? 0.5), context: context)
    }
}
