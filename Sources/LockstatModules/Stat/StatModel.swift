import LockstatCore

/// The stat module's results, column-oriented: one value per sample, aligned with `time`; a
/// per-interval value belongs to the sample that ends the interval (NaN: none, as for the first).
public struct StatModel: ModuleModel {
    var time: Column
    /// Online CPUs seen during the run.
    var cpuCount: Int
    /// all, cpu0, cpu1, ...: mpstat's percentages in `CPUUtilization.fields` order.
    var cpus: [(name: String, fields: [Column])]
    /// iostat's avg-cpu in `CPUUtilization.avgCPUFields` order.
    var avgCPU: [Column]
    /// Per second, measured Δt.
    var contextSwitches: Column, interrupts: Column, softirqs: Column, forks: Column
    /// Tasks, as /proc/stat printed them.
    var running: Column, blocked: Column
    /// mpstat's percentages over the whole run (first snapshot to last), per CPU seen in both.
    var overRun: [(name: String, fields: [Double])]
    var badLines: Int

    enum Key: String, CaseIterable {
        case time
        case cpuCount = "n_cpu"
        case cpu
        case avgCPU = "avg-cpu"
        case contextSwitches = "ctxt/s"
        case interrupts = "intr/s"
        case
            softirqs = "softirq/s"
        case forks = "fork/s"
        case running = "procs_running"
        case blocked = "procs_blocked"
        case overRun = "over_run"
        case badLines = "bad_lines"
    }

    init(
        time: Column, cpuCount: Int, cpus: [(name: String, fields: [Column])], avgCPU: [Column],
        contextSwitches: Column,
        interrupts: Column, softirqs: Column, forks: Column, running: Column, blocked: Column,
        overRun: [(name: String, fields: [Double])], badLines: Int
    ) {
        self.time = time
        self.cpuCount = cpuCount
        self.cpus = cpus
        self.avgCPU = avgCPU
        self.contextSwitches = contextSwitches
        self.interrupts = interrupts
        self.softirqs = softirqs
        self.forks = forks
        self.running = running
        self.blocked = blocked
        self.overRun = overRun
        self.badLines = badLines
    }

    /// The entry read back: the keys it has must be the entry's, of their types, and each CPU's
    /// fields all there; a series the entry leaves out is one with nothing recorded.
    init(entry e: PyValue) throws {
        try e.refuseKeys(otherThan: [
            Key.time, .cpuCount, .cpu, .avgCPU, .contextSwitches, .interrupts, .softirqs, .forks,
            .running, .blocked, .overRun, .badLines,
        ])
        func series(_ key: Key) throws -> Column { try e.optional(key, .series) ?? Column() }
        func fields<T>(_ key: Key, _ names: [String], _ type: PyType<T>) throws -> [(name: String, fields: [T])] {
            try decoding(key.rawValue) {
                try (e.optional(key, .dict) ?? []).map { name, fields in
                    (name, try decoding(name) { try names.map { try fields.required($0, type) } })
                }
            }
        }
        time = try series(.time)
        cpuCount = try e.optional(Key.cpuCount, .int) ?? 0
        cpus = try fields(.cpu, CPUUtilization.fields, .series)
        let avgCPU = try e.optional(Key.avgCPU, .dict).map { _ in
            try decoding(Key.avgCPU.rawValue) {
                try CPUUtilization.avgCPUFields.map { try e[Key.avgCPU]!.required($0, .series) }
            }
        }
        self.avgCPU = avgCPU ?? CPUUtilization.avgCPUFields.map { _ in Column() }
        contextSwitches = try series(.contextSwitches)
        interrupts = try series(.interrupts)
        softirqs = try series(.softirqs)
        forks = try series(.forks)
        running = try series(.running)
        blocked = try series(.blocked)
        overRun = try fields(.overRun, CPUUtilization.fields, .numberOrNone)
        badLines = try e.optional(Key.badLines, .int) ?? 0
    }

    public var entry: PyValue {
        func fields(_ names: [String], _ values: [Column]) -> PyValue {
            .stringDict(zip(names, values).map { ($0, .series($1)) })
        }
        return .keyed([
            (Key.time, .series(time)), (.cpuCount, .int(Int64(cpuCount))),
            (.cpu, .stringDict(cpus.map { ($0.name, fields(CPUUtilization.fields, $0.fields)) })),
            (.avgCPU, fields(CPUUtilization.avgCPUFields, avgCPU)),
            (.contextSwitches, .series(contextSwitches)), (.interrupts, .series(interrupts)),
            (.softirqs, .series(softirqs)),
            (.forks, .series(forks)), (.running, .series(running)), (.blocked, .series(blocked)),
            (
                .overRun,
                .stringDict(
                    overRun.map {
                        ($0.name, .stringDict(zip(CPUUtilization.fields, $0.fields).map { ($0, .float($1)) }))
                    })
            ),
            (.badLines, .int(Int64(badLines))),
        ])
    }

    /// Busy time (100 − %idle) of one CPU per interval.
    func busy(_ fields: [Column]) -> Column {
        Column(fields[CPUUtilization.fields.firstIndex(of: "idle")!].lazy.map { 100 - $0 })
    }

    /// The mpstat columns of `cpuTable`, after its busy column.
    static let cpuTableFields = ["usr", "sys", "iowait", "irq", "soft", "steal", "idle"]

    /// mpstat over the whole run, per CPU: for compare and the page, not the report.
    static let cpuTable = ResultTable(
        name: "cpus",
        metrics: [ResultColumn("busy", "busy (100 − %idle)", unit: "%", kind: .percent)]
            + cpuTableFields.map {
                ResultColumn($0, "%" + $0, unit: "%", kind: .percent, worse: $0 == "idle" ? .lower : .higher)
            },
        labels: ["cpu"], defaultSort: "busy", reported: false)

    public var results: Results {
        var table = Self.cpuTable
        let index = Self.cpuTableFields.map { CPUUtilization.fields.firstIndex(of: $0)! }
        table.rows = overRun.map { cpu in
            ResultRow(labels: [cpu.name], values: [100 - cpu.fields[index.last!]] + index.map { cpu.fields[$0] })
        }
        let all = cpus.first { $0.name == "all" }?.fields ?? []
        let modes = zip(CPUUtilization.fields, all).map { ResultSeries(name: "all %\($0)", unit: "%", values: $1) }
        return Results(
            tables: [table], time: time,
            series: modes + [
                ResultSeries(name: "context switches", unit: "1/s", values: contextSwitches),
                ResultSeries(name: "interrupts", unit: "1/s", values: interrupts),
                ResultSeries(name: "softirqs", unit: "1/s", values: softirqs),
                ResultSeries(name: "forks", unit: "1/s", values: forks),
                ResultSeries(name: "tasks running", unit: "1", values: running),
                ResultSeries(name: "tasks blocked", unit: "1", values: blocked),
            ])
    }
}
