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

    func cpuPercentages(_ cpu: String) -> [[Double?]] {
        var columns = [[Double?]](repeating: [], count: CPUUtilization.fields.count)
        for i in snapshots.indices {
            let values: [Double]? = i == 0 ? nil : {
                guard let p = snapshots[i - 1].cpus[cpu], let c = snapshots[i].cpus[cpu] else { return nil }
                return CPUUtilization.percentages(previous: p, current: c)
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

    var pyValue: PyValue {
        let cpus = cpuNames.map { cpu -> (String, PyValue) in
            let columns = cpuPercentages(cpu)
            return (cpu, .stringDict(zip(CPUUtilization.fields, columns).map { ($0, .series($1)) }))
        }
        return .stringDict([
            ("time", .series(times)),
            ("n_cpu", .int(Int64(cpuNames.filter { $0 != "all" }.count))),
            ("cpu", .stringDict(cpus)),
            ("ctxt/s", .series(rate(\.ctxt))),
            ("intr/s", .series(rate(\.intr))),
            ("softirq/s", .series(rate(\.softirq))),
            ("fork/s", .series(rate(\.processes))),
            ("procs_running", .series(gauge(\.procsRunning))),
            ("procs_blocked", .series(gauge(\.procsBlocked))),
            ("bad_lines", .int(Int64(snapshots.reduce(0) { $0 + $1.badLines }))),
        ])
    }
}
