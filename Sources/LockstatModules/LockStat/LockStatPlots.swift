import LockstatCharts
import LockstatCore

/// The original's lock_stat graphs with correct units, and more: shares of wait and hold time
/// by class, wait time per second of the top classes over time, and a detail page per top class.
struct LockStatPlots {
    let model: LockStatModel

    func write(into directory: TestDirectory) throws -> [String] {
        var files = PlotFiles(into: directory)
        try files.save(
            "lockstat_waittime.svg",
            share(\.waitTotal, title: "Share of total wait time by lock class (/proc/lock_stat)"))
        try files.save(
            "lockstat_holdtime.svg",
            share(\.holdTotal, title: "Share of total hold time by lock class (/proc/lock_stat)"))
        let top = model.ranked.filter { $0.rates != nil }
        let waits = top.map { TimeSeries(name: $0.name, values: $0.rates!.waitMicroseconds.map(\.optional)) }
        try files.save(
            "lockstat_waittime_top.svg",
            TimeChart(
                title: "Wait time of the top lock classes (/proc/lock_stat)",
                yLabel: "wait time per second (µs/s)", time: model.time, series: waits
            ).render())
        for (rank, row) in top.enumerated() where row.contentions > 0 {
            try files.save("lockstat_top\(rank + 1).svg", detail(row))
        }
        return files.names
    }

    /// Top classes plus "others", as percent of the run's total.
    func share(_ metric: KeyPath<LockStatModel.Ranked, Double>, title: String) -> String {
        BarChart(
            title: title, valueLabel: "share of the run's total (%)",
            entries: Shares.topAndOthers(model.ranked.map { ($0.name, $0[keyPath: metric]) }), valueSuffix: " %"
        ).render()
    }

    /// Wait µs/s; acquisitions/s against contentions/s; the call sites, contention and contending points apart.
    func detail(_ row: LockStatModel.Ranked) -> String {
        let name = row.name
        let rates = row.rates!
        var panels = [
            TimeChart(
                title: "\(name): wait time", yLabel: "wait time per second (µs/s)", time: model.time,
                series: [TimeSeries(name: "wait", values: rates.waitMicroseconds.map(\.optional))]
            ).svg,
            TimeChart(
                title: "\(name): acquisitions and contentions", yLabel: "events per second (1/s)", time: model.time,
                series: [
                    TimeSeries(name: "acquisitions/s", values: rates.acquisitions.map(\.optional)),
                    TimeSeries(name: "contentions/s", values: rates.contentions.map(\.optional)),
                ]
            ).svg,
        ]
        let cls = model.lockClass(name)
        for (sites, title) in [
            (cls?.contentionPoints ?? [], "contention points (where waiters waited)"),
            (cls?.contendingPoints ?? [], "contending points (where the holder took it)"),
        ] where !sites.isEmpty {
            panels.append(
                BarChart(
                    title: "\(name): \(title)", valueLabel: "contentions at the call site (count, last sample)",
                    entries: sites.map { ($0.symbol, $0.count) }
                ).svg)
        }
        return ChartStack.render(panels)
    }
}

extension Double {
    /// NaN as nil, as the charts take missing values.
    var optional: Double? { isNaN ? nil : self }
}
