import LockstatCharts
import LockstatCore

/// The original's bars: share of samples by symbol and by image, for
/// all CPUs and per CPU; the top symbols' share of the CPUs over time; a flame graph.
struct ProfilePlots {
    let model: ProfileModel

    func write(into directory: TestDirectory) throws -> [String] {
        var files = PlotFiles(into: directory)
        let m = model
        for (column, cpu) in [(nil, "aggregate")]
            + m.cpus.enumerated().map({ (Optional($0.offset), String($0.element)) })
        {
            let title = column == nil ? "Aggregate" : "CPU \(cpu)"
            try files.save(
                "cpu_\(cpu)_sym.svg",
                bars(
                    m.rows, column: column, name: { ProfileData.label(symbol: $0.symbol, image: $0.image) },
                    title: "Oprofile Total Runtime \(title) (Symbol Names)"))
            try files.save(
                "cpu_\(cpu)_app.svg",
                bars(m.images, column: column, name: \.image, title: "Oprofile Total Runtime \(title) (App Names)"))
        }
        try files.save(
            "oprofile_top.svg",
            TimeChart(
                title: "Top symbols over time (\(m.event) samples at \(m.frequency) Hz)",
                yLabel: "share of all CPUs' time (%)",
                time: m.time, series: m.top.map { TimeSeries(name: $0.label, values: $0.shares.map(\.optional)) }
            ).render())
        let stacks = m.folded.map {
            (frames: $0.stack.split(separator: ";").map(String.init), weight: Double($0.samples))
        }
        var hues = [String: FlameGraph.Hue]()
        for (frame, kind) in m.frameKinds {
            hues[frame] = ["kernel": .orange, "program": .red, "library": .yellow][kind] ?? .grey
        }
        try files.save(
            "oprofile_flame.svg",
            FlameGraph(
                title: "CPU profile (\(m.event) samples at \(m.frequency) Hz)", countName: "samples", stacks: stacks,
                hues: hues,
                subtitle: "orange: kernel (_[k]), red: programs, yellow: libraries, grey: process names and unknown"
            ).render())
        return files.names
    }

    /// A 100 % bar of time per row (the samples' periods): the first rows, the rest as "others".
    func bars(_ rows: [ProfileModel.Row], column: Int?, name: (ProfileModel.Row) -> String, title: String) -> String {
        let shares = rows.map { r in
            (name: name(r), value: column.map { $0 < r.percentPerCPU.count ? r.percentPerCPU[$0] : 0 } ?? r.percent)
        }
        let what = model.event == "cpu-clock" ? "time" : "cycles"
        return BarChart(
            title: title,
            valueLabel: "Runtime Percentage (% of the \(what) sampled, \(model.event) at \(model.frequency) Hz)",
            entries: Shares.topAndOthers(shares, alreadyPercent: true), valueSuffix: " %"
        ).render()
    }
}
