import CLockstat
import Foundation
import LockstatCore

/// `lockstat top`'s user-space locks: the futex module's waits read live with serve's reader;
/// each interval's waits that slept on a lock (condition variables and barriers wait for an
/// event and are left out, as the summary leaves them out) by lock word (`u`) or by the waiter's
/// call site (`w`). Top runs as root on this machine: lock words keep their offsets.
final class FutexTop: LiveSource {
    struct Wait {
        var row: FutexTotals.RowKey
        var key: ls_futex_key
        var count: UInt64
        var total: UInt64
        /// The interval's longest wait when it set its entry's longest, else 0 (not known).
        var max: UInt64
    }

    static let groupings = [
        LiveGrouping(key: "u", name: "user-space lock"), LiveGrouping(key: "w", name: "user-space waiter"),
    ]

    private let reader: FutexSource
    private let scope: LiveScope
    private var waits: [Wait] = []
    private var seconds = 0.0
    /// The waiter's call site per call path (process, stack id, scanned words), named once.
    private var sites: [Data: String] = [:]
    private static let maxSites = 65536
    private var baseline: [UInt64]
    private var counters: [UInt64]
    private var intervals = 0
    private var slept: UInt64 = 0

    init(system: SystemRoot, scope: LiveScope) throws {
        reader = try FutexSource(
            entries: FutexSettings().entries, interval: 1, addresses: true, maxRows: .max, system: system,
            scopeProgram: scope != .system)
        self.scope = scope
        if case .processes(let pids) = scope {
            for pid in pids.flatMap(ContentionTop.withDescendants) { reader.follow(UInt32(pid)) }
        }
        // What waited while loading is no interval's: the first one starts now.
        reader.drain { _, _, _, _, _ in }
        baseline = reader.counters
        counters = baseline
    }

    var groupings: [LiveGrouping] { Self.groupings }
    var sortKeys: [String] { ContentionTopTable.sortKeys }
    func follow(_ pid: pid_t) { reader.follow(UInt32(pid)) }

    func advance(seconds: Double) {
        self.seconds = seconds
        waits = []
        reader.drain { row, entry, count, total, max in
            let outcome = entry.key.outcome
            guard outcome != LS_FUTEX_NO_SLEEP.rawValue, outcome != LS_FUTEX_OTHER_ERROR.rawValue,
                FutexKind(rawValue: row.kind)?.isContention ?? true
            else { return }
            waits.append(Wait(row: row, key: entry.key, count: count, total: total, max: max))
        }
        counters = reader.counters
        intervals += 1
        slept += waits.reduce(0) { $0 + $1.count }
    }

    func table(grouping: Character, sort: Int) -> LiveTable {
        let keyTitle = grouping == "w" ? "user-space waiter (process)" : "user-space lock (process)"
        var rows = [String: ContentionTopTable.Row]()
        var heaviest = [String: (key: ls_futex_key, total: UInt64)]()
        for w in waits {
            let k = (grouping == "w" ? site(w.key) : w.row.lock) + " (\(w.row.process))"
            var r = rows[k] ?? ContentionTopTable.Row(key: k, type: w.row.kind)
            r.count += w.count
            r.total += w.total
            r.max = Swift.max(r.max, w.max)
            if w.total >= heaviest[k]?.total ?? 0 {
                heaviest[k] = (w.key, w.total)
                r.type = w.row.kind
            }
            rows[k] = r
        }
        let sorted = ContentionTopTable.sorted(Array(rows.values), sort: sort)
        let clock = Date().formatted(.dateTime.hour(.twoDigits(amPM: .omitted)).minute(.twoDigits).second(.twoDigits))
        let count = waits.reduce(0) { $0 + $1.count }
        let perSecond = seconds > 0 ? 1 / seconds : 0
        let header =
            "\(clock) \(String(format: "%.2f", seconds)) s: \(count) user-space lock waits "
            + "\(String(format: "%.0f", Double(count) * perSecond))/s, wait "
            + "\(Durations.text(seconds: Double(waits.reduce(0) { $0 + $1.total }) / 1e9 * perSecond))/s, "
            + "\(lost(counters) &- lost(baseline)) lost, \(scopeText)"
        var columns = ContentionTopTable.columns(keyTitle: keyTitle)
        columns[0] = LiveColumn("waits/s", width: 13)
        return LiveTable(
            header: header, columns: columns,
            rows: sorted.map { r in
                var cells = ContentionTopTable.cells(r, seconds: seconds, owners: false)
                if r.max == 0 { cells[3] = "-" }
                return cells
            },
            detail: sorted.first.flatMap { heaviest[$0.key] }.map { reader.waiterFrames($0.key).map(\.symbol) } ?? [])
    }

    /// The waiter's call site: its first frame outside the C library and the loader.
    private func site(_ key: ls_futex_key) -> String {
        var path = key
        (path.uaddr, path.tid, path.kernel_stack, path.outcome, path.op) = (0, 0, 0, 0, 0)
        (path.waker_user_stack, path.waker_kernel_stack, path.waker_tid, path.waker_tgid) = (0, 0, 0, 0)
        path.waker_scanned = (0, 0, 0, 0)
        let id = withUnsafeBytes(of: path) { Data($0) }
        if let known = sites[id] { return known }
        if sites.count >= Self.maxSites { sites.removeAll(keepingCapacity: true) }
        let name = FutexAnalysis.site(reader.waiterFrames(key))
        sites[id] = name
        return name
    }

    private func lost(_ c: [UInt64]) -> UInt64 {
        c[Int(LS_FUTEX_MAP_FULL.rawValue)] + c[Int(LS_FUTEX_STARTS_FULL.rawValue)]
    }

    private var scopeText: String {
        switch scope {
        case .system: return "system-wide"
        case .processes(let pids): return "pid " + pids.map(String.init).joined(separator: ",")
        case .program: return "the program"
        }
    }

    /// The kernel's counts since the first interval began.
    var totalsLine: String {
        "user-space: \(slept) lock waits in \(intervals) intervals; lost "
            + "\(lost(counters) &- lost(baseline))"
    }

    func stop() { reader.stop() }
}

extension FutexModule: LiveModule {
    public func liveRefusal(_ system: SystemRoot) -> String? { Self.refusal(system) }

    public func live(_ system: SystemRoot, scope: LiveScope) throws -> any LiveSource {
        try FutexTop(system: system, scope: scope)
    }
}
