import Foundation
import LockstatCharts
import LockstatCore

/// Per active device (any I/O during the run) the graphs an iostat user looks at first:
/// IOPS, throughput, await and %util with aqu-sz.
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
        for name in devices.keys {
            guard let device = devices[name], isActive(device) else { continue }
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
