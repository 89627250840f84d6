import LockstatCore

/// The stat module's entry in samples.pickle, column-oriented: one value per sample, aligned
/// with `time`; a per-interval value belongs to the sample that ends the interval (the first is None).
struct StatSeries {
    let times: [Double]
    let snapshots: [StatSnapshot]

    /// CPU names in order: all, cpu0, cpu1, ... (numerically), including CPUs seen only part of the run.
    var cpuNames: [String] {
        let names = Set(snapshots.flatMap { $0.cpus.keys })
        return names.sorted { a, b in
            if a == "all" || b == "all" { return a == "all" && b != "all" }
            return (Int(a.dropFirst(3)) ?? 0) < (Int(b.dropFirst(3)) ?? 0)
        }
    }

    /// mpstat's percentages of every CPU and of `all`, per interval (mpstat.c
    /// `get_global_cpu_mpstats`): by name, then in `CPUUtilization.fields` order, one value per sample.
    /// - A CPU's previous values are the last it had: one that comes back online after missing
    ///   from /proc/stat (offline) counts from its last line; one never seen before gets None for
    ///   its first interval and is left out of `all` there, as mpstat does.
    /// - An offline CPU (no line) is None.
    /// - `all` is the sum of the online CPUs' lines, corrected one by one, over the sum of their
    ///   intervals, not the kernel's total line (which counts every possible CPU); on a machine
    ///   with one CPU it is the total line with the per-CPU rules, as mpstat has it.
    func cpuPercentages() -> [String: [[Double?]]] {
        let names = cpuNames
        let perCPU = names.filter { $0 != "all" }
        var columns = [String: [[Double?]]]()
        for name in names { columns[name] = [[Double?]](repeating: [], count: CPUUtilization.fields.count) }
        func put(_ name: String, _ values: [Double]?) {
            for k in CPUUtilization.fields.indices { columns[name]![k].append(values?[k]) }
        }
        var last = [String: CPUTicks]()
        for i in snapshots.indices {
            defer { for (name, ticks) in snapshots[i].cpus { last[name] = ticks } }
            guard i > 0 else { names.forEach { put($0, nil) }; continue }
            var sumPrevious = CPUTicks(), sumCurrent = CPUTicks(), sumInterval: UInt64 = 0
            for name in perCPU {
                guard let c = snapshots[i].cpus[name], var p = last[name] else { put(name, nil); continue }
                let interval = CPUUtilization.interval(current: c, previous: &p)
                put(name, CPUUtilization.percentages(previous: p, current: c, interval: interval))
                sumPrevious.add(p)
                sumCurrent.add(c)
                sumInterval &+= interval
            }
            guard columns["all"] != nil else { continue }
            if perCPU.count > 1 {
                put("all", CPUUtilization.percentages(previous: sumPrevious, current: sumCurrent, interval: sumInterval))
            } else if let c = snapshots[i].cpus["all"], var p = last["all"] {
                let interval = CPUUtilization.interval(current: c, previous: &p)
                put("all", CPUUtilization.percentages(previous: p, current: c, interval: interval))
            } else {
                put("all", nil)
            }
        }
        return columns
    }

    /// iostat's avg-cpu on the kernel's total line, per interval, in `CPUUtilization.avgCPUFields` order.
    func avgCPU() -> [[Double?]] {
        var columns = [[Double?]](repeating: [], count: CPUUtilization.avgCPUFields.count)
        for i in snapshots.indices {
            let values: [Double]? = i == 0 ? nil : {
                guard let p = snapshots[i - 1].cpus["all"], let c = snapshots[i].cpus["all"] else { return nil }
                return CPUUtilization.avgCPU(previous: p, current: c)
            }()
            for k in columns.indices { columns[k].append(values?[k]) }
        }
        return columns
    }

    /// Δcounter / Δt per interval, measured Δt; a counter going backwards gives 0 (sysstat).
    func rate(_ counter: KeyPath<StatSnapshot, UInt64?>) -> [Double?] {
        snapshots.indices.map { i in
            guard i > 0, let c = snapshots[i][keyPath: counter], let p = snapshots[i - 1][keyPath: counter] else { return nil }
            let dt = times[i] - times[i - 1]
            return dt > 0 ? delta(c, p) / dt : nil
        }
    }

    func gauge(_ value: KeyPath<StatSnapshot, UInt64?>) -> [Double?] {
        snapshots.map { $0[keyPath: value].map { Double($0) } }
    }

    /// mpstat's percentages over the whole run: its first snapshot against its last, with the
    /// same rules as each interval (all, then every CPU in both).
    func overRun() -> [(name: String, fields: [Double])] {
        guard snapshots.count >= 2, let first = snapshots.first, let last = snapshots.last else { return [] }
        let ends = StatSeries(times: [times.first!, times.last!], snapshots: [first, last])
        let percentages = ends.cpuPercentages()
        return ends.cpuNames.compactMap { name in
            let values = percentages[name]!.map { $0[1] }
            return values.contains { $0 == nil } ? nil : (name, values.map { $0! })
        }
    }

    var model: StatModel {
        let percentages = cpuPercentages()
        func doubles(_ s: [Double?]) -> [Double] { s.map { $0 ?? .nan } }
        return StatModel(time: times, cpuCount: cpuNames.filter { $0 != "all" }.count,
                         cpus: cpuNames.map { ($0, percentages[$0]!.map(doubles)) }, avgCPU: avgCPU().map(doubles),
                         contextSwitches: doubles(rate(\.ctxt)), interrupts: doubles(rate(\.intr)), softirqs: doubles(rate(\.softirq)),
                         forks: doubles(rate(\.processes)), running: doubles(gauge(\.procsRunning)), blocked: doubles(gauge(\.procsBlocked)),
                         overRun: overRun(), badLines: snapshots.reduce(0) { $0 + $1.badLines })
    }
}
