import LockstatCharts
import LockstatCore

/// The original's bars (ORIGINAL.md section 7): share of samples by symbol and by image, for
/// all CPUs and per CPU; the top symbols' share of the CPUs over time; a flame graph.
struct ProfilePlots {
    let data: PyValue
    static let shownBars = 15

    func write(into directory: TestDirectory) throws -> [String] {
        guard let time = data["time"]?.series?.map({ $0 ?? 0 }) else { return [] }
        var files = PlotFiles(into: directory)
        let rows = data["rows"]?.listItems ?? [], images = data["images"]?.listItems ?? []
        let event = data["event"]?.string ?? "cpu-clock", hz = Int(data["frequency"]?.number ?? 0)
        let cpus = (data["cpus"]?.listItems ?? []).compactMap { $0.number.map { Int($0) } }
        for (column, cpu) in [(nil, "aggregate")] + cpus.enumerated().map({ (Optional($0.offset), String($0.element)) }) {
            let title = column == nil ? "Aggregate" : "CPU \(cpu)"
            try files.save("cpu_\(cpu)_sym.svg", bars(rows, column: column, name: { ProfileData.label(symbol: $0["symbol"]?.string ?? "?", image: $0["image"]?.string ?? "?") },
                                               title: "Oprofile Total Runtime \(title) (Symbol Names)", event: event, hz: hz))
            try files.save("cpu_\(cpu)_app.svg", bars(images, column: column, name: { $0["image"]?.string ?? "?" },
                                               title: "Oprofile Total Runtime \(title) (App Names)", event: event, hz: hz))
        }
        let top = data["top"]
        let series = (top?.keys ?? []).compactMap { k in top?[k]?.series.map { TimeSeries(name: k, values: $0) } }
        try files.save("oprofile_top.svg", TimeChart(title: "Top symbols over time (\(event) samples at \(hz) Hz)",
                                               yLabel: "share of all CPUs' time (%)", time: time, series: series).render())
        let stacks = FoldedStacks.decode(data["folded"])
        let kinds = data["frame_kinds"]
        var hues = [String: FlameGraph.Hue]()
        for k in kinds?.keys ?? [] {
            hues[k] = ["kernel": .orange, "program": .red, "library": .yellow][kinds?[k]?.string ?? ""] ?? .grey
        }
        try files.save("oprofile_flame.svg", FlameGraph(title: "CPU profile (\(event) samples at \(hz) Hz)", countName: "samples", stacks: stacks, hues: hues,
                                                  subtitle: "orange: kernel (_[k]), red: programs, yellow: libraries, grey: process names and unknown").render())
        return files.names
    }

    /// A 100 % bar of time per row (the samples' periods): the first rows, the rest as "others".
    func bars(_ rows: [PyValue], column: Int?, name: (PyValue) -> String, title: String, event: String, hz: Int) -> String {
        func share(_ r: PyValue) -> Double {
            guard let column else { return r["percent"]?.number ?? 0 }
            return r["percent_cpu"]?.listItems?[safe: column]?.number ?? 0
        }
        let sorted = rows.map { (name: name($0), value: share($0)) }.filter { $0.value > 0 }.sorted { $0.value > $1.value }
        var entries = Array(sorted.prefix(Self.shownBars))
        let rest = sorted.dropFirst(Self.shownBars).reduce(0) { $0 + $1.value }
        if rest > 0 { entries.append((name: "others", value: rest)) }
        let what = event == "cpu-clock" ? "time" : "cycles"
        return BarChart(title: title, valueLabel: "Runtime Percentage (% of the \(what) sampled, \(event) at \(hz) Hz)", entries: entries, valueSuffix: " %").render()
    }
}

extension Array {
    subscript(safe index: Int) -> Element? { indices.contains(index) ? self[index] : nil }
}
