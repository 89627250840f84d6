import Foundation
import LockstatCharts
import LockstatCore

/// Per active device (any I/O during the run) the graphs an iostat user looks at first:
/// IOPS, throughput, await and %util with aqu-sz. Beyond `ManyRows.threshold` active devices,
/// heat maps of every device's %util and throughput and charts of the busiest take their place.
struct DiskstatsPlots {
    let data: PyValue

    static let charts: [(file: String, title: String, unit: String, columns: [String])] = [
        ("iops", "I/O requests completed", "requests per second (1/s)", ["r/s", "w/s", "d/s", "f/s"]),
        ("throughput", "Throughput", "kilobytes per second (kB/s)", ["rkB/s", "wkB/s", "dkB/s"]),
        ("await", "Average wait per request (await)", "milliseconds (ms)", ["r_await", "w_await", "d_await", "f_await"]),
        ("util", "Utilisation", "time busy (%)", ["%util"]),
        ("queue", "Average queue size (aqu-sz)", "requests in flight (count)", ["aqu-sz"]),
    ]

    func write(into directory: TestDirectory) throws -> [String] {
        guard let time = data["time"]?.series?.map({ $0 ?? 0 }), let devices = data["devices"] else { return [] }
        var files = [String]()
        let active = devices.keys.filter { devices[$0].map(isActive) ?? false }
        if active.count > ManyRows.threshold {
            func rows(_ columns: [String]) -> [TimeSeries] {
                active.map { name in
                    let parts = columns.compactMap { devices[name]?[$0]?.series }
                    let sum = (0..<time.count).map { i -> Double? in
                        let values = parts.compactMap { i < $0.count ? $0[i] : nil }
                        return values.isEmpty ? nil : values.reduce(0, +)
                    }
                    return TimeSeries(name: name, values: sum)
                }
            }
            let util = rows(["%util"]), throughput = rows(["rkB/s", "wkB/s", "dkB/s"])
            for (file, title, unit, series, top) in [("util", "Utilisation", "time busy (%)", util, Optional(100.0)),
                                                     ("throughput", "Throughput (read + write + discard)", "kilobytes per second (kB/s)", throughput, nil)] {
                try directory.write("diskstats_heatmap_\(file).svg", HeatMap(title: "\(title) per device (/proc/diskstats, iostat -x)", valueLabel: unit,
                                                                            rowLabel: "device", time: time, rows: series, maximum: top).render())
                try directory.write("diskstats_busiest_\(file).svg", TimeChart(title: "\(title), the \(ManyRows.top) busiest devices (/proc/diskstats, iostat -x)",
                                                                              yLabel: unit, time: time, series: ManyRows.busiest(series)).render())
                files += ["diskstats_heatmap_\(file).svg", "diskstats_busiest_\(file).svg"]
            }
            return files
        }
        for name in active {
            guard let device = devices[name] else { continue }
            let safe = name.replacingOccurrences(of: "/", with: "!")
            for chart in Self.charts {
                let series = chart.columns.compactMap { c -> TimeSeries? in
                    guard let s = device[c]?.series, s.contains(where: { $0 != nil }) else { return nil }
                    return TimeSeries(name: c, values: s)
                }
                guard !series.isEmpty else { continue }
                let file = "diskstats_\(safe)_\(chart.file).svg"
                let yMax: Double? = chart.file == "util" ? 100 : nil
                try directory.write(file,
                                    TimeChart(title: "\(chart.title), \(name) (/proc/diskstats, iostat -x)", yLabel: chart.unit,
                                              time: time, series: series, yMax: yMax).render())
                files.append(file)
            }
        }
        return files
    }

    /// A device with any request or busy time during the run.
    func isActive(_ device: PyValue) -> Bool {
        ["r/s", "w/s", "d/s", "f/s", "%util"].contains { c in device[c]?.series?.contains { ($0 ?? 0) > 0 } ?? false }
    }
}
