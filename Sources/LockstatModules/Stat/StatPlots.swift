import LockstatCharts
import LockstatCore

/// The graphs an mpstat user looks at first: stacked CPU utilisation (all CPUs, then each),
/// context switches and interrupts, forks, runnable and blocked tasks. Beyond
/// `ManyRows.threshold` CPUs, one heat map of every CPU's busy time and a chart of the busiest
/// take the place of a file per CPU, so a big machine gets a bounded number of files.
struct StatPlots {
    let data: PyValue

    func write(into directory: TestDirectory) throws -> [String] {
        guard let time = data["time"]?.series?.map({ $0 ?? 0 }), let cpus = data["cpu"] else { return [] }
        var files = [String]()
        func save(_ name: String, _ chart: TimeChart) throws {
            try directory.write(name, chart.render())
            files.append(name)
        }
        let perCPU = cpus.keys.filter { $0 != "all" }
        if perCPU.count > ManyRows.threshold {
            // Busy = 100 − idle, per CPU and interval.
            let busy = perCPU.map { cpu in
                TimeSeries(name: cpu, values: (cpus[cpu]?["idle"]?.series ?? []).map { $0.map { 100 - $0 } })
            }
            try directory.write("stat_cpu_heatmap.svg", HeatMap(title: "CPU utilisation per CPU (/proc/stat, mpstat: 100 − %idle)",
                                                                valueLabel: "busy (%)", rowLabel: "CPU", time: time, rows: busy, maximum: 100).render())
            files.append("stat_cpu_heatmap.svg")
            try save("stat_cpu_busiest.svg", TimeChart(title: "The \(ManyRows.top) busiest CPUs (/proc/stat, mpstat: 100 − %idle)",
                                                       yLabel: "CPU time busy (%)", time: time, series: ManyRows.busiest(busy), yMax: 100))
        }
        for cpu in cpus.keys where cpu == "all" || perCPU.count <= ManyRows.threshold {
            guard let fields = cpus[cpu] else { continue }
            let series = CPUUtilization.fields.compactMap { f in fields[f]?.series.map { TimeSeries(name: f, values: $0) } }
            let label = cpu == "all" ? "all CPUs" : cpu
            try save("stat_cpu_\(cpu).svg", TimeChart(title: "CPU utilisation, \(label) (/proc/stat, mpstat)",
                                                  yLabel: "CPU time (%)", time: time, series: series, stacked: true, yMax: 100))
        }
        let events = ["ctxt/s", "intr/s"].compactMap { k in data[k]?.series.map { TimeSeries(name: k, values: $0) } }
        try save("stat_ctxt_intr.svg", TimeChart(title: "Context switches and interrupts (/proc/stat)",
                                                yLabel: "events per second (1/s)", time: time, series: events))
        if let forks = data["fork/s"]?.series {
            try save("stat_forks.svg", TimeChart(title: "Processes created (/proc/stat processes)",
                                                yLabel: "forks per second (1/s)", time: time, series: [TimeSeries(name: "fork/s", values: forks)]))
        }
        let procs = ["procs_running", "procs_blocked"].compactMap { k in data[k]?.series.map { TimeSeries(name: k, values: $0) } }
        try save("stat_procs.svg", TimeChart(title: "Runnable and blocked tasks (/proc/stat)",
                                            yLabel: "tasks (count)", time: time, series: procs))
        return files
    }
}
