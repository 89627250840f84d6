import LockstatCharts
import LockstatCore

/// Wait time per second of the top callers; share of total wait by caller; the wait-time
/// histogram; a flame graph of the contended call stacks weighted by wait time.
struct ContentionPlots {
    let model: ContentionModel

    func write(into directory: TestDirectory) throws -> [String] {
        var files = PlotFiles(into: directory)
        let waits = model.topCallers.map {
            TimeSeries(name: $0.caller, values: $0.rates.waitMicroseconds.map(\.optional))
        }
        try files.save(
            "contention_wait_top.svg",
            TimeChart(
                title: "Lock wait time of the top callers (lock:contention_begin/end)",
                yLabel: "wait time per second (µs/s)", time: model.time, series: waits
            ).render())
        try files.save(
            "contention_share.svg",
            BarChart(
                title: "Share of total lock wait time by caller", valueLabel: "share of the run's total wait (%)",
                entries: Shares.topAndOthers(model.callers.map { ($0.key, Double($0.total)) }), valueSuffix: " %"
            ).render())
        let buckets = model.histograms.first { $0.name == "all" }?.buckets ?? []
        try files.save(
            "contention_histogram.svg",
            BarChart(
                title: "Lock wait times (log2 buckets)", valueLabel: "contentions (count)",
                entries: buckets.map { ("≥ " + Self.label($0.lowerNanoseconds), Double($0.count)) }
            ).render())
        let stacks = model.folded.map {
            (frames: $0.stack.split(separator: ";").map(String.init), weight: Double($0.waited))
        }
        try files.save(
            "contention_flame.svg",
            FlameGraph(title: "Contended lock call stacks, by wait time", countName: "ns waited", stacks: stacks)
                .render())
        return files.names
    }

    static func label(_ ns: UInt64) -> String { UnitScale.wholeNanoseconds.text(Double(ns)) }
}
