import LockstatCharts
import LockstatCore

/// The graphs an mpstat user looks at first: stacked CPU utilisation (all CPUs, then each),
/// context switches and interrupts, forks, runnable and blocked tasks. Beyond
/// `ManyRows.threshold` CPUs, one heat map of every CPU's busy time and a chart of the busiest
/// take the place of a file per CPU, so a big machine gets a bounded number of files.
struct StatPlots {
    let model: StatModel

    func write(into directory: TestDirectory) throws -> [String] {
        var files = PlotFiles(into: directory)
        let time = model.time
        func series(_ name: String, _ values: Column) -> TimeSeries { TimeSeries(name: name, values: values) }
        let perCPU = model.cpus.filter { $0.name != "all" }
        if perCPU.count > ManyRows.threshold {
            let busy = perCPU.map { series($0.name, model.busy($0.fields)) }
            try files.save(
                "stat_cpu_heatmap.svg",
                HeatMap(
                    title: "CPU utilisation per CPU (/proc/stat, mpstat: 100 − %idle)",
                    valueLabel: "busy (%)", rowLabel: "CPU", time: time, rows: busy, maximum: 100
                ).render())
            try files.save(
                "stat_cpu_busiest.svg",
                TimeChart(
                    title: "The \(ManyRows.top) busiest CPUs (/proc/stat, mpstat: 100 − %idle)",
                    yLabel: "CPU time busy (%)", time: time, series: ManyRows.busiest(busy), yMax: 100
                ).render())
        }
        for cpu in model.cpus where cpu.name == "all" || perCPU.count <= ManyRows.threshold {
            let label = cpu.name == "all" ? "all CPUs" : cpu.name
            try files.save(
                "stat_cpu_\(cpu.name).svg",
                TimeChart(
                    title: "CPU utilisation, \(label) (/proc/stat, mpstat)", yLabel: "CPU time (%)", time: time,
                    series: zip(CPUUtilization.fields, cpu.fields).map(series), stacked: true, yMax: 100
                ).render())
        }
        try files.save(
            "stat_ctxt_intr.svg",
            TimeChart(
                title: "Context switches and interrupts (/proc/stat)", yLabel: "events per second (1/s)", time: time,
                series: [series("ctxt/s", model.contextSwitches), series("intr/s", model.interrupts)]
            ).render())
        try files.save(
            "stat_forks.svg",
            TimeChart(
                title: "Processes created (/proc/stat processes)", yLabel: "forks per second (1/s)", time: time,
                series: [series("fork/s", model.forks)]
            ).render())
        try files.save(
            "stat_procs.svg",
            TimeChart(
                title: "Runnable and blocked tasks (/proc/stat)", yLabel: "tasks (count)", time: time,
                series: [series("procs_running", model.running), series("procs_blocked", model.blocked)]
            ).render())
        return files.names
    }
}
