import LockstatCharts
import LockstatCore

/// The contention module's results: perf lock contention's tables by caller, lock and task (and
/// by owner in bpf mode), the rates per interval of all contentions and of the top callers,
/// wait-time histograms, folded stacks weighted by wait, and what was seen, lost and what it cost.
public struct ContentionModel: ModuleModel {
    struct Row {
        var key: String, type: String
        var contended: Int
        /// ns, of the waits that ended in the run.
        var total: UInt64, max: UInt64, min: UInt64, avg: UInt64
    }

    struct Owner {
        var owner: String, lock: String
        var contended: Int
        var total: UInt64
    }

    /// contention.wakers: the waits of one lock from one waiter caller, ended by one waker (the
    /// last wake's stack), or by none (the class says why).
    struct Waker {
        var lock: String, type: String, caller: String
        /// task, kthread, hardirq, softirq, nmi, signal, spinning, none.
        var wakeClass: String
        /// The releasing call site ("do_rmdir+0x17b"), or "no waker (signal)".
        var waker: String
        /// The waker's kernel stack root first, `;`-joined, and its user stack (function names,
        /// an address where none names it).
        var wakerStack: String, wakerUserStack: String
        /// The program's call that released the lock: the waker's first named user frame outside
        /// the C library and the loader ("rmdir_worker"); "" without a user stack.
        var wakerUserSite = ""
        var contended: Int
        /// ns, all waits; of them, those in which the waiter slept.
        var total: UInt64
        var slept = 0
        var sleptTotal: UInt64 = 0
        /// Wakes of these waits (more than contended: woken, the lock taken by another, slept again).
        var wakes = 0
        /// Waits that ended with an error (-EINTR).
        var failed = 0

        mutating func add(_ other: Waker) {
            contended += other.contended
            total += other.total
            slept += other.slept
            sleptTotal += other.sleptTotal
            wakes += other.wakes
            failed += other.failed
        }
    }

    /// contention.wakers: hold under contention of one lock by the tasks that took it after waiting
    /// from one caller, until each woke the next waiter (uncontended holds are not seen).
    struct Hold {
        var lock: String, type: String, caller: String
        var count: Int
        /// ns.
        var total: UInt64, max: UInt64
        /// Holds per log2 bucket (its lower bound in ns); empty buckets left out.
        var histogram: [(lowerNanoseconds: UInt64, count: Int)]

        mutating func add(_ other: Hold) {
            count += other.count
            total += other.total
            max = Swift.max(max, other.max)
            var merged = [UInt64: Int]()
            for (lower, n) in histogram + other.histogram { merged[lower, default: 0] += n }
            histogram = merged.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        }
    }

    /// contention.wakers: one sleeping lock's contended time (while tasks waited for it), split
    /// at releases and acquisitions: holds of tracked holders + gaps + untracked holds (ns).
    struct Handover: Equatable {
        var lock: String
        var contended: UInt64
        var episodes: Int, holds: Int
        var held: UInt64, gaps: UInt64, untracked: UInt64
        var untrackedReleases: Int
    }

    /// contention.wakers: the owner's kernel stack (root first, `;`-joined) when waiters began
    /// waiting for a mutex or rwsem, and how many begins saw it (perf's owner stack: the owner at
    /// begin, not the waker at release; stale where the owner ran on another CPU).
    struct OwnerStack: Equatable {
        var lock: String, ownerStack: String
        var contended: Int
    }

    /// bpf mode, where owners were recorded: the lock each caller waited on longest, named as
    /// the owners table names it, so that a caller's row can name that lock's owner.
    struct CallerLock: Equatable {
        var caller: String, lock: String
        /// ns.
        var total: UInt64
    }

    /// Per interval, measured Δt (NaN: none).
    struct Rates {
        var contentions: [Double], waitMicroseconds: [Double]
    }

    /// What the kernel saw, what was kept and lost, what it cost: named counters in their order.
    struct Cost {
        var mode: String
        var counters: [(name: String, value: Int64)]

        func value(_ name: String) -> Double? { counters.first { $0.name == name }.map { Double($0.value) } }

        /// "contention (bpf): 2.31 M contentions, 0 lost, lockstat 0.9 % of one CPU, BPF 3.1 % of the CPUs".
        var line: String {
            var line =
                "contention (\(mode)): \(Self.count(value("contentions") ?? 0)) contentions, \(Int(value("lost") ?? 0)) lost"
            if let wall = value("wall_ns"), wall > 0, let own = value("lockstat_cpu_ns") {
                line += String(format: ", lockstat %.1f %% of one CPU", own / wall * 100)
                if let bpf = value("bpf_ns"), bpf > 0 {
                    line += String(format: ", BPF %.1f %% of the CPUs", bpf / wall / max(1, value("cpus") ?? 1) * 100)
                }
            }
            return line
        }

        static func count(_ n: Double) -> String { UnitScale.spacedCount.text(n) }
    }

    var time: [Double]
    var all: Rates
    var topCallers: [(caller: String, rates: Rates)]
    var callers: [Row], locks: [Row], tasks: [Row]
    /// bpf mode: by the waiting task's cgroup (v2 path, or id); nil where the run did not key by it.
    var cgroups: [Row]?
    var owners: [Owner]
    /// "all", then each top caller: contentions per log2 bucket of wait (its lower bound in ns).
    var histograms: [(name: String, buckets: [(lowerNanoseconds: UInt64, count: Int)])]
    /// Call stacks root first, `;`-joined with the lock type last, and the ns waited.
    var folded: [(stack: String, waited: UInt64)]
    var lost: Int
    var cost: Cost?
    var unpaired: Int, unfinished: Int
    /// nil: the run did not record wakers (ring mode, contention.wakers no, or an older log).
    var wakers: [Waker]?
    /// nil where wakers are: hold under contention and the locks' handover split.
    var holds: [Hold]?, handovers: [Handover]?
    var ownerStacks: [OwnerStack]?
    var callerLocks: [CallerLock]?

    enum Key: String, CaseIterable {
        case time
        case contentionRate = "contentions/s"
        case waitRate = "wait us/s"
        case topCallers = "top_callers"
        case callers, locks, tasks, cgroups, cgroup
        case histograms = "wait_histogram"
        case folded, owners, lost, cost, unpaired, unfinished, mode
        case caller, lock, task, owner, type, contended
        case total = "total_wait_ns"
        case wakers, waker, slept, wakes, failed
        case wakeClass = "class"
        case wakerStack = "waker_stack"
        case wakerUserStack = "waker_user_stack"
        case wakerUserSite = "waker_user_site"
        case sleptTotal = "slept_wait_ns"
        case max = "max_wait_ns"
        case min = "min_wait_ns"
        case avg = "avg_wait_ns"
        case holds = "holds_under_contention"
        case handovers = "handover"
        case count = "holds"
        case holdTotal = "hold_ns"
        case holdMax = "max_hold_ns"
        case holdHistogram = "hold_histogram"
        case contendedTotal = "contended_ns"
        case episodes
        case gaps = "gap_ns"
        case untracked = "untracked_hold_ns"
        case untrackedReleases = "untracked_releases"
        case ownerStacks = "owner_stacks_at_begin"
        case ownerStack = "owner_stack"
        case callerLocks = "caller_locks"
    }

    public var entry: PyValue {
        func rows(_ rows: [Row], _ key: Key) -> PyValue {
            .list(
                rows.map { r in
                    .keyed([
                        (key, .string(r.key)), (Key.type, .string(r.type)), (.contended, .int(Int64(r.contended))),
                        (.total, .int(Int64(r.total))),
                        (.max, .int(Int64(r.max))), (.min, .int(Int64(r.min))), (.avg, .int(Int64(r.avg))),
                    ])
                })
        }
        func rates(_ r: Rates) -> PyValue {
            .keyed([(Key.contentionRate, .series(r.contentions)), (.waitRate, .series(r.waitMicroseconds))])
        }
        let owners = PyValue.list(
            self.owners.map { o in
                .keyed([
                    (Key.owner, .string(o.owner)), (.lock, .string(o.lock)), (.contended, .int(Int64(o.contended))),
                    (.total, .int(Int64(o.total))),
                ])
            })
        let cost =
            self.cost.map { c in
                PyValue.stringDict(
                    [(Key.mode.rawValue, .string(c.mode))] + c.counters.map { ($0.name, .int($0.value)) })
            } ?? .none
        let wakers: [(Key, PyValue)] =
            self.wakers.map { rows in
                [
                    (
                        Key.wakers,
                        PyValue.list(
                            rows.map { w in
                                .keyed([
                                    (Key.lock, .string(w.lock)), (.type, .string(w.type)), (.caller, .string(w.caller)),
                                    (.wakeClass, .string(w.wakeClass)), (.waker, .string(w.waker)),
                                    (.wakerStack, .string(w.wakerStack)), (.wakerUserStack, .string(w.wakerUserStack)),
                                    (.wakerUserSite, .string(w.wakerUserSite)),
                                    (.contended, .int(Int64(w.contended))), (.total, .int(Int64(w.total))),
                                    (.slept, .int(Int64(w.slept))), (.sleptTotal, .int(Int64(w.sleptTotal))),
                                    (.wakes, .int(Int64(w.wakes))), (.failed, .int(Int64(w.failed))),
                                ])
                            })
                    )
                ]
            } ?? []
        let holds: [(Key, PyValue)] =
            self.holds.map { rows in
                [
                    (
                        Key.holds,
                        PyValue.list(
                            rows.map { h in
                                .keyed([
                                    (Key.lock, .string(h.lock)), (.type, .string(h.type)), (.caller, .string(h.caller)),
                                    (.count, .int(Int64(h.count))), (.holdTotal, .int(Int64(h.total))),
                                    (.holdMax, .int(Int64(h.max))),
                                    (
                                        .holdHistogram,
                                        .stringDict(
                                            h.histogram.map { (String($0.lowerNanoseconds), .int(Int64($0.count))) })
                                    ),
                                ])
                            })
                    )
                ]
            } ?? []
        let handovers: [(Key, PyValue)] =
            self.handovers.map { rows in
                [
                    (
                        Key.handovers,
                        PyValue.list(
                            rows.map { h in
                                .keyed([
                                    (Key.lock, .string(h.lock)), (.contendedTotal, .int(Int64(h.contended))),
                                    (.episodes, .int(Int64(h.episodes))), (.count, .int(Int64(h.holds))),
                                    (.holdTotal, .int(Int64(h.held))), (.gaps, .int(Int64(h.gaps))),
                                    (.untracked, .int(Int64(h.untracked))),
                                    (.untrackedReleases, .int(Int64(h.untrackedReleases))),
                                ])
                            })
                    )
                ]
            } ?? []
        let ownerStacks: [(Key, PyValue)] =
            self.ownerStacks.map { rows in
                [
                    (
                        Key.ownerStacks,
                        PyValue.list(
                            rows.map { o in
                                .keyed([
                                    (Key.lock, .string(o.lock)), (.ownerStack, .string(o.ownerStack)),
                                    (.contended, .int(Int64(o.contended))),
                                ])
                            })
                    )
                ]
            } ?? []
        let callerLocks: [(Key, PyValue)] =
            self.callerLocks.map { rows in
                [
                    (
                        Key.callerLocks,
                        PyValue.list(
                            rows.map { c in
                                .keyed([
                                    (Key.caller, .string(c.caller)), (.lock, .string(c.lock)),
                                    (.total, .int(Int64(c.total))),
                                ])
                            })
                    )
                ]
            } ?? []
        let pairs: [(Key, PyValue)] = [
            (Key.time, .series(time)), (.contentionRate, .series(all.contentions)),
            (.waitRate, .series(all.waitMicroseconds)),
            (.topCallers, .stringDict(topCallers.map { ($0.caller, rates($0.rates)) })),
            (.callers, rows(callers, .caller)), (.locks, rows(locks, .lock)), (.tasks, rows(tasks, .task)),
            (
                .histograms,
                .stringDict(
                    histograms.map { h in
                        (h.name, .stringDict(h.buckets.map { (String($0.lowerNanoseconds), .int(Int64($0.count))) }))
                    })
            ),
            (.folded, .list(folded.map { .tuple([.string($0.stack), .int(Int64($0.waited))]) })),
            (.owners, owners), (.lost, .int(Int64(lost))), (.cost, cost),
            (.unpaired, .int(Int64(unpaired))), (.unfinished, .int(Int64(unfinished))),
        ]
        // Only a run that recorded wakers (cgroups) has the key, so other runs' samples are as they were.
        let cgroups: [(Key, PyValue)] = self.cgroups.map { [(Key.cgroups, rows($0, .cgroup))] } ?? []
        return .keyed(pairs + wakers + holds + handovers + ownerStacks + callerLocks + cgroups)
    }

    init(
        time: [Double], all: Rates, topCallers: [(caller: String, rates: Rates)], callers: [Row], locks: [Row],
        tasks: [Row], cgroups: [Row]? = nil, owners: [Owner],
        histograms: [(name: String, buckets: [(lowerNanoseconds: UInt64, count: Int)])],
        folded: [(stack: String, waited: UInt64)],
        lost: Int, cost: Cost?, unpaired: Int, unfinished: Int, wakers: [Waker]? = nil, holds: [Hold]? = nil,
        handovers: [Handover]? = nil, ownerStacks: [OwnerStack]? = nil, callerLocks: [CallerLock]? = nil
    ) {
        self.time = time
        self.all = all
        self.topCallers = topCallers
        self.callers = callers
        self.locks = locks
        self.tasks = tasks
        self.cgroups = cgroups
        self.owners = owners
        self.histograms = histograms
        self.folded = folded
        self.lost = lost
        self.cost = cost
        self.unpaired = unpaired
        self.unfinished = unfinished
        self.wakers = wakers
        self.holds = holds
        self.handovers = handovers
        self.ownerStacks = ownerStacks
        self.callerLocks = callerLocks
    }

    /// The entry read back: the keys it has must be the entry's, of their types, and each row
    /// complete; a table, series or count the entry leaves out is one with nothing recorded.
    init(entry e: PyValue) throws {
        try e.refuseKeys(otherThan: [
            Key.time, .contentionRate, .waitRate, .topCallers, .callers, .locks, .tasks, .histograms,
            .folded, .owners, .lost, .cost, .unpaired, .unfinished, .wakers, .holds, .handovers, .ownerStacks,
            .callerLocks, .cgroups,
        ])
        func rows(_ list: Key, _ key: Key) throws -> [Row] {
            try (e.optional(list, .list) ?? []).enumerated().map { i, r in
                try decoding("\(list.rawValue)[\(i)]") {
                    Row(
                        key: try r.required(key, .string), type: try r.required(Key.type, .string),
                        contended: try r.required(Key.contended, .int),
                        total: try r.required(Key.total, .count), max: try r.required(Key.max, .count),
                        min: try r.required(Key.min, .count),
                        avg: try r.required(Key.avg, .count))
                }
            }
        }
        func rates(_ v: PyValue, required: Bool) throws -> Rates {
            required
                ? Rates(
                    contentions: try v.required(Key.contentionRate, .doubles),
                    waitMicroseconds: try v.required(Key.waitRate, .doubles))
                : Rates(
                    contentions: try v.optional(Key.contentionRate, .doubles) ?? [],
                    waitMicroseconds: try v.optional(Key.waitRate, .doubles) ?? [])
        }
        let topCallers = try (e.optional(Key.topCallers, .dict) ?? []).map { caller, v in
            (caller, try decoding("\(Key.topCallers.rawValue)[\(caller)]") { try rates(v, required: true) })
        }
        let owners = try (e.optional(Key.owners, .list) ?? []).enumerated().map { i, o in
            try decoding("\(Key.owners.rawValue)[\(i)]") {
                Owner(
                    owner: try o.required(Key.owner, .string), lock: try o.required(Key.lock, .string),
                    contended: try o.required(Key.contended, .int), total: try o.required(Key.total, .count))
            }
        }
        let histograms = try decoding(Key.histograms.rawValue) {
            try (e.optional(Key.histograms, .dict) ?? []).map { name, h in
                (
                    name,
                    try PyValue.typed(h, name, .dict).map { bucket, count in
                        guard let lower = UInt64(bucket) else {
                            throw LockstatError("\(name): key '\(bucket)' is no bucket's lower bound (ns)")
                        }
                        return (lower, try PyValue.typed(count, bucket, .int))
                    }
                )
            }
        }
        let folded = try (e.optional(Key.folded, .list) ?? []).enumerated().map { i, item in
            try decoding("\(Key.folded.rawValue)[\(i)]") {
                guard case .tuple(let t) = item, t.count == 2, let stack = t[0].string,
                    let waited = PyType.count.read(t[1])
                else {
                    throw LockstatError("is \(item.typeName), not a tuple of a stack and its ns")
                }
                return (stack, waited)
            }
        }
        let cost = try decoding(Key.cost.rawValue) {
            try e.optional(Key.cost, .dict).map { items in
                Cost(
                    mode: try e[Key.cost]!.required(Key.mode, .string),
                    counters: try items.filter { $0.key != Key.mode.rawValue }.map {
                        ($0.key, Int64(try PyValue.typed($0.value, $0.key, .int)))
                    })
            }
        }
        let wakers = try e.optional(Key.wakers, .list).map { list in
            try list.enumerated().map { i, w in
                try decoding("\(Key.wakers.rawValue)[\(i)]") {
                    Waker(
                        lock: try w.required(Key.lock, .string), type: try w.required(Key.type, .string),
                        caller: try w.required(Key.caller, .string), wakeClass: try w.required(Key.wakeClass, .string),
                        waker: try w.required(Key.waker, .string), wakerStack: try w.required(Key.wakerStack, .string),
                        wakerUserStack: try w.required(Key.wakerUserStack, .string),
                        wakerUserSite: try w.optional(Key.wakerUserSite, .string) ?? "",
                        contended: try w.required(Key.contended, .int), total: try w.required(Key.total, .count),
                        slept: try w.required(Key.slept, .int), sleptTotal: try w.required(Key.sleptTotal, .count),
                        wakes: try w.required(Key.wakes, .int), failed: try w.required(Key.failed, .int))
                }
            }
        }
        let holds = try e.optional(Key.holds, .list).map { list in
            try list.enumerated().map { i, h in
                try decoding("\(Key.holds.rawValue)[\(i)]") {
                    Hold(
                        lock: try h.required(Key.lock, .string), type: try h.required(Key.type, .string),
                        caller: try h.required(Key.caller, .string), count: try h.required(Key.count, .int),
                        total: try h.required(Key.holdTotal, .count), max: try h.required(Key.holdMax, .count),
                        histogram: try h.required(Key.holdHistogram, .dict).map { bucket, count in
                            guard let lower = UInt64(bucket) else {
                                throw LockstatError(
                                    "\(Key.holdHistogram.rawValue): key '\(bucket)' is no lower bound (ns)")
                            }
                            return (lower, try PyValue.typed(count, bucket, .int))
                        })
                }
            }
        }
        let handovers = try e.optional(Key.handovers, .list).map { list in
            try list.enumerated().map { i, h in
                try decoding("\(Key.handovers.rawValue)[\(i)]") {
                    Handover(
                        lock: try h.required(Key.lock, .string), contended: try h.required(Key.contendedTotal, .count),
                        episodes: try h.required(Key.episodes, .int), holds: try h.required(Key.count, .int),
                        held: try h.required(Key.holdTotal, .count), gaps: try h.required(Key.gaps, .count),
                        untracked: try h.required(Key.untracked, .count),
                        untrackedReleases: try h.required(Key.untrackedReleases, .int))
                }
            }
        }
        let ownerStacks = try e.optional(Key.ownerStacks, .list).map { list in
            try list.enumerated().map { i, o in
                try decoding("\(Key.ownerStacks.rawValue)[\(i)]") {
                    OwnerStack(
                        lock: try o.required(Key.lock, .string), ownerStack: try o.required(Key.ownerStack, .string),
                        contended: try o.required(Key.contended, .int))
                }
            }
        }
        let callerLocks = try e.optional(Key.callerLocks, .list).map { list in
            try list.enumerated().map { i, c in
                try decoding("\(Key.callerLocks.rawValue)[\(i)]") {
                    CallerLock(
                        caller: try c.required(Key.caller, .string), lock: try c.required(Key.lock, .string),
                        total: try c.required(Key.total, .count))
                }
            }
        }
        self.init(
            time: try e.optional(Key.time, .doubles) ?? [], all: try rates(e, required: false), topCallers: topCallers,
            callers: try rows(.callers, .caller), locks: try rows(.locks, .lock), tasks: try rows(.tasks, .task),
            cgroups: e[Key.cgroups] == nil ? nil : try rows(.cgroups, .cgroup), owners: owners,
            histograms: histograms, folded: folded, lost: try e.optional(Key.lost, .int) ?? 0, cost: cost,
            unpaired: try e.optional(Key.unpaired, .int) ?? 0, unfinished: try e.optional(Key.unfinished, .int) ?? 0,
            wakers: wakers, holds: holds, handovers: handovers, ownerStacks: ownerStacks, callerLocks: callerLocks)
    }

    // MARK: the generic form

    static let waitColumns = [
        ResultColumn("contended", "contended", unit: "1", kind: .count, aliases: ["contentions"]),
        ResultColumn("wait_total", "total wait", unit: "ns", kind: .time),
        ResultColumn("wait_max", "max wait", unit: "ns", kind: .gauge),
        ResultColumn("wait_min", "min wait", unit: "ns", kind: .gauge),
        ResultColumn("avg_wait", "avg wait", unit: "ns", kind: .gauge),
    ]

    /// Tasks are named by their ids, which another run does not share: not compared.
    static func rowsTable(_ name: String, grouping: String) -> ResultTable {
        ResultTable(
            name: name, grouping: grouping, metrics: waitColumns, labels: ["type", grouping], identity: [1, 0],
            defaultSort: "wait_total",
            comparable: grouping != "task")
    }

    static let ownersTable = ResultTable(
        name: "owners", grouping: "owner",
        metrics: [
            ResultColumn("contended", "contended", unit: "1", kind: .count, aliases: ["contentions"]),
            ResultColumn("wait_total", "total wait", unit: "ns", kind: .time),
        ],
        labels: ["owner", "lock"], identity: [0, 1], defaultSort: "wait_total",
        whenEmpty: "owners are recorded in contention.mode bpf, for the mutexes and rwsems waited for",
        comparable: false)

    /// `report --by waker`: wait by who ended it, the releasing call site or why there was none.
    static let wakersTable = ResultTable(
        name: "wakers", grouping: "waker",
        metrics: [
            ResultColumn("contended", "contended", unit: "1", kind: .count, aliases: ["contentions"]),
            ResultColumn("wait_total", "total wait", unit: "ns", kind: .time),
            ResultColumn("wait_slept", "slept wait", unit: "ns", kind: .time),
            ResultColumn("avg_wait", "avg wait", unit: "ns", kind: .gauge),
        ],
        labels: ["class", "waker", "program_site"], identity: [1, 2, 0], defaultSort: "wait_total",
        whenEmpty: "wakers are recorded in contention.mode bpf with contention.wakers yes")

    /// `report --by hold`: hold under contention (from acquiring after a wait to waking the next
    /// waiter; uncontended holds are not seen), per lock and the holder's caller.
    static let holdsTable = ResultTable(
        name: "holds", grouping: "hold",
        metrics: [
            ResultColumn("holds", "holds under contention", unit: "1", kind: .count),
            ResultColumn("hold_total", "total hold under contention", unit: "ns", kind: .time),
            ResultColumn("hold_max", "max hold", unit: "ns", kind: .gauge),
            ResultColumn("avg_hold", "avg hold", unit: "ns", kind: .gauge),
        ],
        labels: ["lock", "caller"], identity: [0, 1], defaultSort: "hold_total",
        whenEmpty: "hold under contention is recorded in contention.mode bpf with contention.wakers yes")

    /// `report --by cgroup`: by the waiting task's cgroup v2 path (bpf mode).
    static let cgroupsTable = ResultTable(
        name: "cgroups", grouping: "cgroup", metrics: waitColumns, labels: ["type", "cgroup"], identity: [1, 0],
        defaultSort: "wait_total", whenEmpty: "cgroups are recorded in contention.mode bpf")

    /// compare's holds beside the callers' waits: hold under contention per holder's caller and
    /// lock type, summed over the locks (whose addresses differ between runs); not reported
    /// (`report --by hold` has them per lock).
    static let holdCallersTable = ResultTable(
        name: "hold_callers",
        metrics: holdsTable.metrics, labels: ["type", "caller"], identity: [1, 0], defaultSort: "hold_total",
        whenEmpty: holdsTable.whenEmpty, reported: false)

    static let tables = [
        rowsTable("callers", grouping: "caller"), rowsTable("locks", grouping: "lock"),
        rowsTable("tasks", grouping: "task"), ownersTable,
    ]

    public var results: Results {
        var tables = Self.tables
        for (k, rows) in [callers, locks, tasks].enumerated() {
            tables[k].rows = rows.map { r in
                ResultRow(
                    labels: [r.type, r.key],
                    values: [Double(r.contended), Double(r.total), Double(r.max), Double(r.min), Double(r.avg)])
            }
        }
        tables[3].rows = owners.map {
            ResultRow(labels: [$0.owner, $0.lock], values: [Double($0.contended), Double($0.total)])
        }
        // Only where wakers were recorded, so other runs' reports and pages are as they were.
        if let wakers {
            typealias Site = (
                wakeClass: String, waker: String, userSite: String, count: Int, total: UInt64, slept: UInt64
            )
            var bySite = [String: Site]()
            for w in wakers {
                let key = w.wakeClass + "\u{0}" + w.waker + "\u{0}" + w.wakerUserSite
                var row =
                    bySite[key]
                    ?? (wakeClass: w.wakeClass, waker: w.waker, userSite: w.wakerUserSite, count: 0, total: 0, slept: 0)
                row.count += w.contended
                row.total += w.total
                row.slept += w.sleptTotal
                bySite[key] = row
            }
            var table = Self.wakersTable
            table.rows = bySite.values.sorted { ($0.total, $1.waker, $1.userSite) > ($1.total, $0.waker, $0.userSite) }
                .map {
                ResultRow(
                    labels: [$0.wakeClass, $0.waker, $0.userSite],
                    values: [
                        Double($0.count), Double($0.total), Double($0.slept),
                        $0.count > 0 ? Double($0.total / UInt64($0.count)) : 0,
                    ])
            }
            tables.append(table)
        }
        if let cgroups {
            var table = Self.cgroupsTable
            table.rows = cgroups.map { r in
                ResultRow(
                    labels: [r.type, r.key],
                    values: [Double(r.contended), Double(r.total), Double(r.max), Double(r.min), Double(r.avg)])
            }
            tables.append(table)
        }
        if let holds {
            var table = Self.holdsTable
            table.rows = holds.map {
                ResultRow(
                    labels: [$0.lock, $0.caller],
                    values: [
                        Double($0.count), Double($0.total), Double($0.max),
                        $0.count > 0 ? Double($0.total / UInt64($0.count)) : 0,
                    ])
            }
            tables.append(table)
            var byCaller = [String: Hold]()
            for h in holds {
                let key = h.type + "\u{0}" + h.caller
                if byCaller[key] == nil { byCaller[key] = h } else { byCaller[key]!.add(h) }
            }
            var callers = Self.holdCallersTable
            let ranked = byCaller.values.sorted { ($0.total, $1.caller, $1.type) > ($1.total, $0.caller, $0.type) }
            callers.rows = ranked.map {
                ResultRow(
                    labels: [$0.type, $0.caller],
                    values: [
                        Double($0.count), Double($0.total), Double($0.max),
                        $0.count > 0 ? Double($0.total / UInt64($0.count)) : 0,
                    ])
            }
            tables.append(callers)
        }
        let series =
            [
                ResultSeries(name: "contentions", unit: "1/s", values: all.contentions),
                ResultSeries(name: "wait", unit: "us/s", values: all.waitMicroseconds),
            ]
            + topCallers.map {
                ResultSeries(name: "\($0.caller) wait", unit: "us/s", values: $0.rates.waitMicroseconds)
            }
        return Results(
            tables: tables, time: time, series: series, notes: cost.map { [$0.line] } ?? [],
            stacks: [ResultStacks(name: "wait", unit: "ns", folded: folded.map { ($0.stack, Double($0.waited)) })]
                + (wakerStacks.map { [$0] } ?? [])
                + (ownerStacks.map {
                    [
                        ResultStacks(
                            name: "owner-at-begin", unit: "1", folded: $0.map { ($0.ownerStack, Double($0.contended)) })
                    ]
                } ?? []))
    }

    /// Beside the waiters' flame graph: the wait each waker stack ended (root first: the
    /// program's frames, then the kernel's, the class last), so the page shows who let the
    /// waiters go. Wait without a waker stack is left out.
    var wakerStacks: ResultStacks? {
        guard let wakers else { return nil }
        var folded = [String: UInt64]()
        for w in wakers where !w.wakerStack.isEmpty && w.total > 0 {
            let user = w.wakerUserStack.isEmpty ? "" : w.wakerUserStack + ";"
            folded[user + w.wakerStack + ";" + w.wakeClass, default: 0] += w.total
        }
        return ResultStacks(
            name: "woken-wait", unit: "ns",
            folded: folded.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map { ($0.key, Double($0.value)) })
    }
}

extension ContentionModel {
    /// The release site that ended the most of the wait of a lock (`lock` as the tables name it)
    /// or of a caller's waits, or of both: the end-of-run summary's "released by". nil when
    /// wakers were not recorded or no task or kernel thread woke a waiter there (spinlocks,
    /// signals, interrupts only).
    struct TopWakerSite: Equatable {
        /// "do_rmdir+0x17b"; class task or kthread.
        var site: String, wakeClass: String
        /// ns of wait this site ended, and its share of all the wait of the rows asked for.
        var total: UInt64, share: Double
    }

    func topWakerSite(lock: String? = nil, caller: String? = nil) -> TopWakerSite? {
        let asked = wakers?.filter { (lock == nil || $0.lock == lock) && (caller == nil || $0.caller == caller) }
        guard let rows = asked, !rows.isEmpty else { return nil }
        var bySite = [String: (wakeClass: String, total: UInt64)]()
        for w in rows where w.wakeClass == "task" || w.wakeClass == "kthread" {
            bySite[w.waker, default: (w.wakeClass, 0)].total += w.total
        }
        let all = rows.reduce(UInt64(0)) { $0 + $1.total }
        guard let top = bySite.max(by: { ($0.value.total, $1.key) < ($1.value.total, $0.key) }) else { return nil }
        return TopWakerSite(
            site: top.key, wakeClass: top.value.wakeClass, total: top.value.total,
            share: all > 0 ? Double(top.value.total) / Double(all) : 0)
    }

    /// The task that held the lock a caller waited on longest when the most of that lock's waits
    /// began ("1234 mkdir-storm"): the summary's "owner" where wakers were not recorded. nil when
    /// owners were not recorded or none was seen for that lock (spinlocks have none).
    func topOwner(caller: String) -> String? {
        guard let lock = callerLocks?.first(where: { $0.caller == caller })?.lock else { return nil }
        return owners.filter { $0.lock == lock }.max { ($0.total, $1.owner) < ($1.total, $0.owner) }?.owner
    }
}
