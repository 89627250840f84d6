import LockstatCharts
import LockstatCore

/// The graphs an mpstat user looks at first: stacked CPU utilisation (all CPUs, then each),
/// context switches and interrupts, forks, runnable and blocked tasks.
struct StatPlots {
    let data: PyValue

    func write(into directory: TestDirectory) throws -> [String] {
        guard let time = data["time"]?.series?.map({ $0 ?? 0 }), let cpus = data["cpu"] else { return [] }
        var files = [String]()
        func save(_ name: String, _ chart: TimeChart) throws {
            try directory.write(name, chart.render())
            files.append(name)
        }
        for cpu in cpus.keys {
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
