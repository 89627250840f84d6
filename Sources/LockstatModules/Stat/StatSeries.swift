import LockstatCore

/// Turns /proc/stat snapshots into the stat module's columns in one pass, keeping only what the
/// next interval needs (the previous snapshot, each CPU's last line, the first snapshot for the
/// run's totals), so a run of any length parses in bounded memory. Column-oriented: one value
/// per sample; a per-interval value belongs to the sample that ends the interval (the first is NaN).
struct StatSeries {
    private(set) var times = Column()
    /// mpstat's percentages per CPU name, in `CPUUtilization.fields` order.
    private var perCPU: [String: [Column]] = [:]
    /// `all` two ways, chosen at the end when the number of CPUs is known: the sum of the
    /// online CPUs' lines (several CPUs), or the kernel's total line (one CPU), as mpstat does.
    private var allSummed = Self.fieldColumns, allFromTotal = Self.fieldColumns
    private var sawTotal = false
    private var avgCPU = [Column](repeating: Column(), count: CPUUtilization.avgCPUFields.count)
    private var contextSwitches = Column(), interrupts = Column(), softirqs = Column(), forks = Column()
    private var running = Column(), blocked = Column()
    /// Each CPU's last line: one that comes back online after missing (offline) counts from it.
    private var last: [String: CPUTicks] = [:]
    private var previous: StatSnapshot?, previousTime = 0.0
    private var first: (snapshot: StatSnapshot, time: Double)?
    private(set) var badLines = 0

    private static var fieldColumns: [Column] { [Column](repeating: Column(), count: CPUUtilization.fields.count) }

    /// mpstat's percentages of every CPU and of `all` for the interval ending at `s` (mpstat.c
    /// `get_global_cpu_mpstats`); iostat's avg-cpu on the total line; Δcounter / Δt with the
    /// measured Δt, a counter going backwards giving 0 (sysstat).
    /// - A CPU never seen before gets NaN for its first interval and is left out of `all` there.
    /// - An offline CPU (no line) is NaN.
    /// - `all` is the sum of the online CPUs' lines, corrected one by one, over the sum of their
    ///   intervals, not the kernel's total line (which counts every possible CPU).
    mutating func add(_ s: StatSnapshot, time: Double) {
        let sample = times.count
        times.append(time)
        badLines += s.badLines
        for name in s.cpus.keys where name != "all" && perCPU[name] == nil {
            perCPU[name] = [Column](
                repeating: Column(repeating: .nan, count: sample), count: CPUUtilization.fields.count)
        }
        sawTotal = sawTotal || s.cpus["all"] != nil
        var sumPrevious = CPUTicks()
        var sumCurrent = CPUTicks()
        var sumInterval: UInt64 = 0
        for name in perCPU.keys {
            var values: [Double]?
            if previous != nil, let c = s.cpus[name], var p = last[name] {
                let interval = CPUUtilization.interval(current: c, previous: &p)
                values = CPUUtilization.percentages(previous: p, current: c, interval: interval)
                sumPrevious.add(p)
                sumCurrent.add(c)
                sumInterval &+= interval
            }
            Self.put(values, into: &perCPU[name]!)
        }
        let intervalEnds = previous != nil
        Self.put(
            intervalEnds
                ? CPUUtilization.percentages(previous: sumPrevious, current: sumCurrent, interval: sumInterval) : nil,
            into: &allSummed)
        var total: [Double]?
        if intervalEnds, let c = s.cpus["all"], var p = last["all"] {
            let interval = CPUUtilization.interval(current: c, previous: &p)
            total = CPUUtilization.percentages(previous: p, current: c, interval: interval)
        }
        Self.put(total, into: &allFromTotal)
        var avg: [Double]?
        if let p = previous?.cpus["all"], let c = s.cpus["all"] { avg = CPUUtilization.avgCPU(previous: p, current: c) }
        Self.put(avg, into: &avgCPU)
        let dt = time - previousTime
        func rate(_ counter: KeyPath<StatSnapshot, UInt64?>) -> Double {
            guard let p = previous?[keyPath: counter], let c = s[keyPath: counter], dt > 0 else { return .nan }
            return delta(c, p) / dt
        }
        contextSwitches.append(rate(\.ctxt))
        interrupts.append(rate(\.intr))
        softirqs.append(rate(\.softirq))
        forks.append(rate(\.processes))
        running.append(s.procsRunning.map { Double($0) } ?? .nan)
        blocked.append(s.procsBlocked.map { Double($0) } ?? .nan)
        for (name, ticks) in s.cpus { last[name] = ticks }
        if first == nil { first = (s, time) }
        previous = s
        previousTime = time
    }

    private static func put(_ values: [Double]?, into columns: inout [Column]) {
        for k in columns.indices { columns[k].append(values?[k] ?? .nan) }
    }

    /// CPU names in order: cpu0, cpu1, ... (numerically), including CPUs seen only part of the run.
    private var cpuNames: [String] {
        perCPU.keys.sorted { (Int($0.dropFirst(3)) ?? 0) < (Int($1.dropFirst(3)) ?? 0) }
    }

    /// `all` and every CPU, in order, as mpstat shows them.
    private var cpus: [(name: String, fields: [Column])] {
        let all: [(name: String, fields: [Column])] =
            sawTotal ? [("all", perCPU.count > 1 ? allSummed : allFromTotal)] : []
        return all + cpuNames.map { ($0, perCPU[$0]!) }
    }

    /// mpstat's percentages over the whole run: the first snapshot against the last, with the
    /// same rules as each interval (all, then every CPU in both).
    private var overRun: [(name: String, fields: [Double])] {
        guard times.count >= 2, let first, let previous else { return [] }
        var ends = StatSeries()
        ends.add(first.snapshot, time: first.time)
        ends.add(previous, time: previousTime)
        return ends.cpus.compactMap { cpu in
            let values = cpu.fields.map { $0[1] }
            return values.contains { $0.isNaN } ? nil : (cpu.name, values)
        }
    }

    var model: StatModel {
        StatModel(
            time: times, cpuCount: perCPU.count, cpus: cpus, avgCPU: avgCPU,
            contextSwitches: contextSwitches, interrupts: interrupts, softirqs: softirqs, forks: forks,
            running: running, blocked: blocked, overRun: overRun, badLines: badLines)
    }
}
