import CLockstat
import Foundation
import LockstatCharts
import LockstatCore

/// The futex module's results: the waits by lock word, waiter call site, waker call site,
/// waiter → waker pair and task; the owners a mutex had when waited for; folded stacks of the
/// waiters and the wakers weighted by wait; what the kernel saw, kept and lost.
public struct FutexModel: ModuleModel {
    struct Row {
        var key: String, kind: String
        /// How the user stacks the row is grouped by were found (`dwarf`, `scanned`, `none`;
        /// `mixed` for several): the waiter's, the waker's for `wakers`, both for `pairs`.
        var stack: String
        /// Waits that slept; their total and longest (ns); the share of contention kinds (ns).
        var waits: Int, total: UInt64, max: UInt64, contention: UInt64
        /// Calls that returned at once (the word had changed), and waits that timed out.
        var noSleep: Int, timeouts: Int
        /// For a lock word's row: the waker call site that ended most of its wait ("-": none did).
        var releasedBy: String? = nil

        var avg: UInt64 { waits > 0 ? total / UInt64(waits) : 0 }
    }

    struct Owner {
        var owner: String, lock: String
        var waits: Int, total: UInt64
    }

    var locks: [Row], waiters: [Row], wakers: [Row], pairs: [Row], tasks: [Row]
    var owners: [Owner]
    var waiterFolded: [(stack: String, waited: UInt64)], wakerFolded: [(stack: String, waited: UInt64)]
    /// The kernel's counters, the samples and the cost, by name.
    var counters: [(name: String, value: Int64)]

    enum Key: String, CaseIterable {
        case locks, waiters, wakers, pairs, tasks, owners, counters
        case waiterFolded = "waiter_folded"
        case wakerFolded = "waker_folded"
        case key, kind, stack, waits, owner, lock
        case total = "total_wait_ns"
        case max = "max_wait_ns"
        case contention = "contention_wait_ns"
        case noSleep = "no_sleep"
        case timeouts
        case releasedBy = "released_by"
    }

    /// "futex: 12.3 k waits slept (456 did not sleep), 0 lost, 40 stack copies, lockstat 0.4 % of one CPU".
    var line: String {
        func value(_ name: String) -> Double { Double(counters.first { $0.name == name }?.value ?? 0) }
        let slept = locks.reduce(0) { $0 + $1.waits }
        let noSleep = locks.reduce(0) { $0 + $1.noSleep }
        var line =
            "futex: \(UnitScale.spacedCount.text(Double(slept))) waits slept (\(noSleep) did not sleep), "
            + "\(Int(value("lost"))) lost, \(Int(value("stack_copies"))) stack copies"
        if value("wall_ns") > 0 {
            line += String(format: ", lockstat %.1f %% of one CPU", value("lockstat_cpu_ns") / value("wall_ns") * 100)
        }
        return line
    }

    public var entry: PyValue {
        func rows(_ rows: [Row]) -> PyValue {
            .list(
                rows.map { r in
                    .keyed(
                        [
                            (Key.key, .string(r.key)), (.kind, .string(r.kind)), (.stack, .string(r.stack)),
                            (.waits, .int(Int64(r.waits))),
                            (.total, .int(Int64(r.total))), (.max, .int(Int64(r.max))),
                            (.contention, .int(Int64(r.contention))), (.noSleep, .int(Int64(r.noSleep))),
                            (.timeouts, .int(Int64(r.timeouts))),
                        ] + (r.releasedBy.map { [(Key.releasedBy, PyValue.string($0))] } ?? []))
                })
        }
        func folded(_ f: [(stack: String, waited: UInt64)]) -> PyValue {
            .list(f.map { .tuple([.string($0.stack), .int(Int64($0.waited))]) })
        }
        return .keyed([
            (Key.locks, rows(locks)), (.waiters, rows(waiters)), (.wakers, rows(wakers)), (.pairs, rows(pairs)),
            (.tasks, rows(tasks)),
            (
                .owners,
                .list(
                    owners.map { o in
                        .keyed([
                            (Key.owner, .string(o.owner)), (.lock, .string(o.lock)), (.waits, .int(Int64(o.waits))),
                            (.total, .int(Int64(o.total))),
                        ])
                    })
            ),
            (.waiterFolded, folded(waiterFolded)), (.wakerFolded, folded(wakerFolded)),
            (.counters, .stringDict(counters.map { ($0.name, .int($0.value)) })),
        ])
    }

    init(
        locks: [Row], waiters: [Row], wakers: [Row], pairs: [Row], tasks: [Row], owners: [Owner],
        waiterFolded: [(stack: String, waited: UInt64)], wakerFolded: [(stack: String, waited: UInt64)],
        counters: [(name: String, value: Int64)]
    ) {
        self.locks = locks
        self.waiters = waiters
        self.wakers = wakers
        self.pairs = pairs
        self.tasks = tasks
        self.owners = owners
        self.waiterFolded = waiterFolded
        self.wakerFolded = wakerFolded
        self.counters = counters
    }

    /// The entry read back: each key must be the entry's and of its type; a table left out is
    /// empty; a row without `stack` (written before the DWARF unwinding) is `scanned`.
    init(entry e: PyValue) throws {
        try e.refuseKeys(otherThan: [
            Key.locks, .waiters, .wakers, .pairs, .tasks, .owners, .waiterFolded, .wakerFolded, .counters,
        ])
        func rows(_ list: Key) throws -> [Row] {
            try (e.optional(list, .list) ?? []).enumerated().map { i, r in
                try decoding("\(list.rawValue)[\(i)]") {
                    Row(
                        key: try r.required(Key.key, .string), kind: try r.required(Key.kind, .string),
                        stack: try r.optional(Key.stack, .string) ?? FutexAnalysis.StackSource.scanned.rawValue,
                        waits: try r.required(Key.waits, .int), total: try r.required(Key.total, .count),
                        max: try r.required(Key.max, .count), contention: try r.required(Key.contention, .count),
                        noSleep: try r.required(Key.noSleep, .int), timeouts: try r.required(Key.timeouts, .int),
                        releasedBy: try r.optional(Key.releasedBy, .string))
                }
            }
        }
        func folded(_ key: Key) throws -> [(stack: String, waited: UInt64)] {
            try (e.optional(key, .list) ?? []).enumerated().map { i, item in
                try decoding("\(key.rawValue)[\(i)]") {
                    guard case .tuple(let t) = item, t.count == 2, let stack = t[0].string,
                        let waited = PyType.count.read(t[1])
                    else {
                        throw LockstatError("is \(item.typeName), not a tuple of a stack and its ns")
                    }
                    return (stack, waited)
                }
            }
        }
        let owners = try (e.optional(Key.owners, .list) ?? []).enumerated().map { i, o in
            try decoding("\(Key.owners.rawValue)[\(i)]") {
                Owner(
                    owner: try o.required(Key.owner, .string), lock: try o.required(Key.lock, .string),
                    waits: try o.required(Key.waits, .int), total: try o.required(Key.total, .count))
            }
        }
        let counters = try decoding(Key.counters.rawValue) {
            try (e.optional(Key.counters, .dict) ?? []).map {
                ($0.key, Int64(try PyValue.typed($0.value, $0.key, .int)))
            }
        }
        self.init(
            locks: try rows(.locks), waiters: try rows(.waiters), wakers: try rows(.wakers), pairs: try rows(.pairs),
            tasks: try rows(.tasks), owners: owners, waiterFolded: try folded(.waiterFolded),
            wakerFolded: try folded(.wakerFolded), counters: counters)
    }

    // MARK: the generic form

    static let waitColumns = [
        ResultColumn("waits", "waits", unit: "1", kind: .count),
        ResultColumn("contention_wait", "contention wait", unit: "ns", kind: .time),
        ResultColumn("wait_total", "total wait", unit: "ns", kind: .time),
        ResultColumn("wait_max", "max wait", unit: "ns", kind: .gauge),
        ResultColumn("avg_wait", "avg wait", unit: "ns", kind: .gauge),
        ResultColumn("no_sleep", "did not sleep", unit: "1", kind: .count),
        ResultColumn("timeouts", "timed out", unit: "1", kind: .count),
    ]

    /// Ranked by the wait of contention kinds: a condition variable's waits list last.
    static func rowsTable(_ name: String, grouping: String) -> ResultTable {
        ResultTable(
            name: name, grouping: grouping, metrics: waitColumns, labels: ["kind", "stack", grouping],
            identity: [2, 0],
            defaultSort: "contention_wait", comparable: grouping != "task")
    }

    static let ownersTable = ResultTable(
        name: "owners", grouping: "owner",
        metrics: [
            ResultColumn("waits", "waits", unit: "1", kind: .count),
            ResultColumn("wait_total", "total wait", unit: "ns", kind: .time),
        ],
        labels: ["owner", "lock"], identity: [0, 1], defaultSort: "wait_total",
        whenEmpty: "owners are read from glibc's pthread_mutex_t and PI futex words", comparable: false)

    static let tables = [
        rowsTable("locks", grouping: "lock"), rowsTable("waiters", grouping: "waiter"),
        rowsTable("wakers", grouping: "waker"), rowsTable("pairs", grouping: "pair"),
        rowsTable("tasks", grouping: "task"), ownersTable,
    ]

    public var results: Results {
        var tables = Self.tables
        for (k, rows) in [locks, waiters, wakers, pairs, tasks].enumerated() {
            tables[k].rows = rows.map { r in
                ResultRow(
                    labels: [r.kind, r.stack, r.key],
                    values: [
                        Double(r.waits), Double(r.contention), Double(r.total), Double(r.max), Double(r.avg),
                        Double(r.noSleep), Double(r.timeouts),
                    ])
            }
        }
        tables[5].rows = owners.map {
            ResultRow(labels: [$0.owner, $0.lock], values: [Double($0.waits), Double($0.total)])
        }
        return Results(
            tables: tables, time: [], notes: [line],
            stacks: [
                ResultStacks(name: "wait", unit: "ns", folded: waiterFolded.map { ($0.stack, Double($0.waited)) }),
                ResultStacks(name: "wake", unit: "ns", folded: wakerFolded.map { ($0.stack, Double($0.waited)) }),
            ])
    }
}

extension FutexModel {
    /// The tables made from the named waits; `top` bounds the folded stacks kept.
    init(_ a: FutexAnalysis) {
        func rows(
            _ key: (FutexAnalysis.Named) -> String,
            stack: (FutexAnalysis.Named) -> String = { $0.waiterSource.rawValue }
        ) -> [Row] {
            var byKey = [String: Row]()
            for n in a.waits {
                let k = key(n)
                var r =
                    byKey[k]
                    ?? Row(
                        key: k, kind: n.kind.rawValue, stack: stack(n), waits: 0, total: 0, max: 0, contention: 0,
                        noSleep: 0, timeouts: 0)
                // A key of waits of several kinds (a task's), or of stacks found both ways, says so.
                if r.kind != n.kind.rawValue { r.kind = "mixed" }
                if r.stack != stack(n) { r.stack = "mixed" }
                if n.wait.slept {
                    r.waits += Int(n.wait.count)
                    r.total += n.wait.total
                    r.max = Swift.max(r.max, n.wait.max)
                    if n.kind.isContention { r.contention += n.wait.total }
                } else {
                    r.noSleep += Int(n.wait.count)
                }
                if n.wait.outcome == LS_FUTEX_TIMED_OUT.rawValue { r.timeouts += Int(n.wait.count) }
                byKey[k] = r
            }
            return byKey.values.sorted { ($0.contention, $0.total, $0.key) > ($1.contention, $1.total, $1.key) }
        }
        var owners = [String: Owner]()
        for n in a.waits where n.wait.slept {
            guard let owner = n.owner else { continue }
            let k = owner + "\u{0}" + n.lock
            var o = owners[k] ?? Owner(owner: owner, lock: n.lock, waits: 0, total: 0)
            o.waits += Int(n.wait.count)
            o.total += n.wait.total
            owners[k] = o
        }
        func folded(_ stack: (FutexAnalysis.Named) -> [String]) -> [(stack: String, waited: UInt64)] {
            var byStack = [String: UInt64]()
            for n in a.waits where n.wait.slept && !stack(n).isEmpty {
                byStack[(stack(n) + [n.lock]).joined(separator: ";"), default: 0] += n.wait.total
            }
            return byStack.map { ($0.key, $0.value) }.sorted { ($0.waited, $0.stack) > ($1.waited, $1.stack) }
        }
        let names = [
            "waits", "recorded", "filtered", "map_full", "starts_full", "stack_failed", "stack_copies",
            "stack_copies_dropped", "wakes",
        ]
        var counters = zip(names, a.counters).map { ($0, Int64(clamping: $1)) }
        counters += [
            (
                "lost",
                Int64(
                    clamping: a.counters[Int(LS_FUTEX_MAP_FULL.rawValue)]
                        + a.counters[Int(LS_FUTEX_STARTS_FULL.rawValue)])
            ),
            ("stack_copy_bytes", Int64(a.sampleBytes)), ("dwarf_stacks", Int64(a.dwarfUnwound)),
            ("bpf_ns", Int64(clamping: a.programNanoseconds)),
            ("lockstat_cpu_ns", Int64(clamping: a.lockstatNanoseconds)),
            ("wall_ns", Int64(clamping: a.wallNanoseconds)),
        ]
        // Each lock word's releaser: the waker site with the most of its wait.
        var released = [String: [String: UInt64]]()
        for n in a.waits where n.wait.slept && n.waker != FutexAnalysis.noWaker {
            released[n.lock, default: [:]][n.waker, default: 0] += n.wait.total
        }
        var locks = rows { $0.lock }
        for i in locks.indices {
            locks[i].releasedBy = released[locks[i].key]?.max { ($0.value, $1.key) < ($1.value, $0.key) }?.key ?? "-"
        }
        self.init(
            locks: locks, waiters: rows { $0.waiter },
            wakers: rows({ $0.waker }, stack: { $0.wakerSource.rawValue }),
            pairs: rows(
                { "\($0.waiter) → \($0.waker)" },
                stack: { "\($0.waiterSource.rawValue) → \($0.wakerSource.rawValue)" }),
            tasks: rows { $0.task },
            owners: owners.values.sorted { ($0.total, $0.owner) > ($1.total, $1.owner) },
            waiterFolded: folded { $0.waiterStack }, wakerFolded: folded { $0.wakerStack }, counters: counters)
    }
}
