import Glibc
import LockstatCore

/// /proc/stat's counters since the first snapshot, as metric families: CPU time per CPU and mode
/// in seconds (USER_HZ ticks / sysconf(_SC_CLK_TCK), proc(5)), context switches, forks and
/// interrupts. A counter that went back (a CPU hot-plugged) adds nothing.
struct StatTotals: SnapshotTotals {
    private var first: StatSnapshot?
    private var last: StatSnapshot?
    private static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    /// The kernel counts guest time in user and nice as well (kernel/sched/cputime.c), so the
    /// modes add up to the CPU's time without guest and guest_nice.
    static let modes: [(name: String, ticks: KeyPath<CPUTicks, UInt64>)] = [
        ("user", \.user), ("nice", \.nice), ("system", \.system), ("idle", \.idle), ("iowait", \.iowait),
        ("irq", \.irq), ("softirq", \.softirq), ("steal", \.steal),
    ]

    mutating func add(_ text: ProcText) { add(StatSnapshot(text)) }

    mutating func add(_ snapshot: StatSnapshot) {
        if first == nil { first = snapshot }
        last = snapshot
    }

    var families: [MetricFamily] {
        guard let first, let last else { return [] }
        var cpu = MetricFamily(
            name: "lockstat_cpu_seconds", kind: .counter, unit: "seconds",
            help: "CPU time by mode since lockstat started (/proc/stat; user and nice include guest time)",
            labels: ["cpu", "mode"])
        let names = last.cpus.keys.filter { $0 != "all" }.sorted {
            (Int($0.dropFirst(3)) ?? 0) < (Int($1.dropFirst(3)) ?? 0)
        }
        for name in names {
            guard let now = last.cpus[name] else { continue }
            let then = first.cpus[name] ?? CPUTicks()
            for mode in Self.modes {
                cpu.points.append(
                    MetricPoint(
                        labels: [String(name.dropFirst(3)), mode.name],
                        value: delta(now[keyPath: mode.ticks], then[keyPath: mode.ticks]) / Self.ticksPerSecond))
            }
        }
        func counter(_ name: String, _ help: String, _ value: KeyPath<StatSnapshot, UInt64?>) -> MetricFamily {
            var f = MetricFamily(name: name, kind: .counter, help: help, labels: [])
            if let now = last[keyPath: value], let then = first[keyPath: value] {
                f.points = [MetricPoint(labels: [], value: delta(now, then))]
            }
            return f
        }
        return [
            cpu,
            counter("lockstat_context_switches", "Context switches since lockstat started (/proc/stat ctxt)", \.ctxt),
            counter(
                "lockstat_forks", "Processes and threads created since lockstat started (/proc/stat processes)",
                \.processes),
            counter("lockstat_interrupts", "Interrupts serviced since lockstat started (/proc/stat intr)", \.intr),
        ]
    }
}

extension StatModule: ServedModule {
    public func serving(_ context: ServingContext) throws -> any MetricsSource {
        // The counters only grow: readings between scrapes would change nothing.
        try ProcFileSource(path: context.system.path(Self.file), totals: StatTotals(), everyInterval: false)
    }
}
