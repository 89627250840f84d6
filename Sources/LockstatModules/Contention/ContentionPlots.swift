import LockstatCharts
import LockstatCore

/// Wait time per second of the top callers; share of total wait by caller; the wait-time
/// histogram; a flame graph of the contended call stacks weighted by wait time.
struct ContentionPlots {
    let data: PyValue

    func write(into directory: TestDirectory) throws -> [String] {
        guard let time = data["time"]?.series?.map({ $0 ?? 0 }) else { return [] }
        var files = PlotFiles(into: directory)
        let top = data["top_callers"]
        let waits = (top?.keys ?? []).compactMap { k in top?[k]?["wait us/s"]?.series.map { TimeSeries(name: k, values: $0) } }
        try files.save("contention_wait_top.svg", TimeChart(title: "Lock wait time of the top callers (lock:contention_begin/end)",
                                                     yLabel: "wait time per second (µs/s)", time: time, series: waits).render())
        let callers = data["callers"]?.listItems ?? []
        let total = callers.reduce(0.0) { $0 + ($1["total_wait_ns"]?.number ?? 0) }
        var shares = callers.prefix(15).map { (name: $0["caller"]?.string ?? "?", value: total > 0 ? ($0["total_wait_ns"]?.number ?? 0) / total * 100 : 0) }
        let rest = callers.dropFirst(15).reduce(0.0) { $0 + ($1["total_wait_ns"]?.number ?? 0) }
        if rest > 0 { shares.append((name: "others", value: rest / total * 100)) }
        try files.save("contention_share.svg", BarChart(title: "Share of total lock wait time by caller", valueLabel: "share of the run's total wait (%)",
                                                  entries: shares, valueSuffix: " %").render())
        let histogram = data["wait_histogram"]?["all"]
        let buckets = (histogram?.keys ?? []).map { k in (name: "≥ " + ContentionPlots.label(Double(k) ?? 0), value: histogram?[k]?.number ?? 0) }
        try files.save("contention_histogram.svg", BarChart(title: "Lock wait times (log2 buckets)", valueLabel: "contentions (count)", entries: buckets).render())
        let stacks = FoldedStacks.decode(data["folded"])
        try files.save("contention_flame.svg", FlameGraph(title: "Contended lock call stacks, by wait time", countName: "ns waited", stacks: stacks).render())
        return files.names
    }

    static func label(_ ns: Double) -> String {
        ns >= 1e9 ? "\(Int(ns / 1e9)) s" : ns >= 1e6 ? "\(Int(ns / 1e6)) ms" : ns >= 1e3 ? "\(Int(ns / 1e3)) µs" : "\(Int(ns)) ns"
    }
}
