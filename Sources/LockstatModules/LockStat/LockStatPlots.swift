import LockstatCharts
import LockstatCore

/// The original's lock_stat graphs with correct units, and more: shares of wait and hold time
/// by class, wait time per second of the top classes over time, and a detail page per top class.
struct LockStatPlots {
    let data: PyValue

    func write(into directory: TestDirectory) throws -> [String] {
        guard let time = data["time"]?.series?.map({ $0 ?? 0 }), let top = data["top"]?.listItems else { return [] }
        var files = [String]()
        func save(_ name: String, _ document: String) throws {
            try directory.write(name, document)
            files.append(name)
        }
        try save("lockstat_waittime.svg", share(top, "waittime-total", title: "Share of total wait time by lock class (/proc/lock_stat)"))
        try save("lockstat_holdtime.svg", share(top, "holdtime-total", title: "Share of total hold time by lock class (/proc/lock_stat)"))
        let ranked = top.filter { $0["waittime us/s"] != nil }
        let waits = ranked.compactMap { row in row["waittime us/s"]?.series.map { TimeSeries(name: row["class"]?.string ?? "?", values: $0) } }
        try save("lockstat_waittime_top.svg", TimeChart(title: "Wait time of the top lock classes (/proc/lock_stat)",
                                                       yLabel: "wait time per second (µs/s)", time: time, series: waits).render())
        for (rank, row) in ranked.enumerated() {
            guard let name = row["class"]?.string, (row["contentions"]?.number ?? 0) > 0 else { continue }
            try save("lockstat_top\(rank + 1).svg", detail(name, row, time: time))
        }
        return files
    }

    /// Top classes plus "others", as percent of the run's total.
    func share(_ rows: [PyValue], _ column: String, title: String, shown: Int = 15) -> String {
        let values = rows.map { ($0["class"]?.string ?? "?", $0[column]?.number ?? 0) }.sorted { $0.1 > $1.1 }
        let total = values.reduce(0) { $0 + $1.1 }
        var entries = values.prefix(shown).filter { $0.1 > 0 }.map { (name: $0.0, value: total > 0 ? $0.1 / total * 100 : 0) }
        let rest = values.dropFirst(shown).reduce(0) { $0 + $1.1 }
        if rest > 0 { entries.append((name: "others", value: rest / total * 100)) }
        return BarChart(title: title, valueLabel: "share of the run's total (%)", entries: entries, valueSuffix: " %").render()
    }

    /// Wait µs/s; acquisitions/s against contentions/s; the call sites, contention and contending points apart.
    func detail(_ name: String, _ row: PyValue, time: [Double]) -> String {
        var panels = [TimeChart(title: "\(name): wait time", yLabel: "wait time per second (µs/s)", time: time,
                                series: [TimeSeries(name: "wait", values: row["waittime us/s"]?.series ?? [])]).render(),
                      TimeChart(title: "\(name): acquisitions and contentions", yLabel: "events per second (1/s)", time: time,
                                series: [TimeSeries(name: "acquisitions/s", values: row["acquisitions/s"]?.series ?? []),
                                         TimeSeries(name: "contentions/s", values: row["contentions/s"]?.series ?? [])]).render()]
        let cls = data["classes"]?[name]
        for (key, title) in [("contention_points", "contention points (where waiters waited)"),
                             ("contending_points", "contending points (where the holder took it)")] {
            let sites = cls?[key]?.listItems?.map { (name: $0["symbol"]?.string ?? "?", value: $0["count"]?.number ?? 0) } ?? []
            if !sites.isEmpty {
                panels.append(BarChart(title: "\(name): \(title)", valueLabel: "contentions at the call site (count, last sample)", entries: sites).render())
            }
        }
        return ChartStack.render(panels)
    }
}
