import Foundation
import LockstatCharts
import LockstatCore

/// Per active device (any I/O during the run) the graphs an iostat user looks at first:
/// IOPS, throughput, await and %util with aqu-sz. Beyond `ManyRows.threshold` active devices,
/// heat maps of every device's %util and throughput and charts of the busiest take their place.
struct DiskstatsPlots {
    let model: DiskstatsModel

    static let charts: [(file: String, title: String, unit: String, columns: [String])] = [
        ("iops", "I/O requests completed", "requests per second (1/s)", ["r/s", "w/s", "d/s", "f/s"]),
        ("throughput", "Throughput", "kilobytes per second (kB/s)", ["rkB/s", "wkB/s", "dkB/s"]),
        (
            "await", "Average wait per request (await)", "milliseconds (ms)",
            ["r_await", "w_await", "d_await", "f_await"]
        ),
        ("util", "Utilisation", "time busy (%)", ["%util"]),
        ("queue", "Average queue size (aqu-sz)", "requests in flight (count)", ["aqu-sz"]),
    ]

    func write(into directory: TestDirectory) throws -> [String] {
        var files = PlotFiles(into: directory)
        let time = model.time
        let active = model.devices.filter(\.isActive)
        if active.count > ManyRows.threshold {
            /// Per device, the columns summed per sample (NaN where none has a value).
            func rows(_ columns: [String]) -> [TimeSeries] {
                active.map { TimeSeries(name: $0.name, values: Column.sum(columns.map($0.column), count: time.count)) }
            }
            for (file, title, unit, series, top) in [
                ("util", "Utilisation", "time busy (%)", rows(["%util"]), Optional(100.0)),
                (
                    "throughput", "Throughput (read + write + discard)", "kilobytes per second (kB/s)",
                    rows(["rkB/s", "wkB/s", "dkB/s"]), nil
                ),
            ] {
                try files.save(
                    "diskstats_heatmap_\(file).svg",
                    HeatMap(
                        title: "\(title) per device (/proc/diskstats, iostat -x)", valueLabel: unit,
                        rowLabel: "device", time: time, rows: series, maximum: top
                    ).render())
                try files.save(
                    "diskstats_busiest_\(file).svg",
                    TimeChart(
                        title: "\(title), the \(ManyRows.top) busiest devices (/proc/diskstats, iostat -x)",
                        yLabel: unit, time: time, series: ManyRows.busiest(series)
                    ).render())
            }
            return files.names
        }
        for device in active {
            let safe = device.name.replacingOccurrences(of: "/", with: "!")
            for chart in Self.charts {
                let series = chart.columns.compactMap { c -> TimeSeries? in
                    let values = device.column(c)
                    return values.contains { !$0.isNaN } ? TimeSeries(name: c, values: values) : nil
                }
                guard !series.isEmpty else { continue }
                try files.save(
                    "diskstats_\(safe)_\(chart.file).svg",
                    TimeChart(
                        title: "\(chart.title), \(device.name) (/proc/diskstats, iostat -x)", yLabel: chart.unit,
                        time: time, series: series, yMax: chart.file == "util" ? 100 : nil
                    ).render())
            }
        }
        return files.names
    }
}
