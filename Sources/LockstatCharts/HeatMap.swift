import LockstatColumns

/// Many series over the same measured time as one picture: a row per series (CPU, device), a
/// column per stretch of time, the colour its value. However many rows and samples, the SVG has
/// at most `maxRows` × `maxColumns` cells: rows and samples that share a cell keep their
/// maximum (a hot CPU among 1,000 still shows). The legend is the colour scale with its unit.
public struct HeatMap {
    public var title: String
    /// What the colour stands for, with its unit ("busy (%)").
    public var valueLabel: String
    public var rowLabel: String
    public var time: Column
    public var rows: [TimeSeries]
    /// The colour scale's top (100 for percentages); else the data's maximum.
    public var maximum: Double?

    public static let maxRows = 128, maxColumns = 240

    public init(
        title: String, valueLabel: String, rowLabel: String, time: Column, rows: [TimeSeries], maximum: Double? = nil
    ) {
        self.title = title
        self.valueLabel = valueLabel
        self.rowLabel = rowLabel
        self.time = time
        self.rows = rows
        self.maximum = maximum
    }

    public init(
        title: String, valueLabel: String, rowLabel: String, time: [Double], rows: [TimeSeries], maximum: Double? = nil
    ) {
        self.init(
            title: title, valueLabel: valueLabel, rowLabel: rowLabel, time: Column(time), rows: rows, maximum: maximum)
    }

    static let width = 960.0, left = 110.0, right = 120.0, top = 40.0, bottom = 55.0, plotHeight = 384.0

    public func render() -> String {
        let cellRows = max(1, min(Self.maxRows, rows.count))
        let cellColumns = max(1, min(Self.maxColumns, time.count))
        // Cell (r, c) holds the maximum of its rows' values in its stretch of samples.
        var cells = [Double](repeating: .nan, count: cellRows * cellColumns)
        for (i, row) in rows.enumerated() {
            let r = i * cellRows / max(1, rows.count)
            for (k, v) in row.values.enumerated() {
                guard v.isFinite else { continue }
                let c = k * cellColumns / max(1, time.count)
                let at = r * cellColumns + c
                if cells[at].isNaN || v > cells[at] { cells[at] = v }
            }
        }
        let top = maximum ?? max(cells.filter { !$0.isNaN }.max() ?? 1, 1e-12)
        let height = Self.top + Self.plotHeight + Self.bottom
        var svg = SVG(width: Int(Self.width), height: Int(height))
        svg.rect(x: 0, y: 0, width: Self.width, height: height, fill: "white")
        svg.text(title, x: Self.width / 2, y: 24, size: 16, anchor: .middle, weight: "bold")
        let plotWidth = Self.width - Self.left - Self.right
        let cw = plotWidth / Double(cellColumns)
        let ch = Self.plotHeight / Double(cellRows)
        for r in 0..<cellRows {
            for c in 0..<cellColumns {
                let v = cells[r * cellColumns + c]
                guard !v.isNaN else { continue }
                // Half a pixel of overlap, so no hairline of background shows between cells.
                svg.rect(
                    x: Self.left + Double(c) * cw, y: Self.top + Double(r) * ch, width: cw + 0.5, height: ch + 0.5,
                    fill: Self.color(min(1, max(0, v / top))))
            }
        }
        // Rows: the first and last names of each labelled band; time along the bottom.
        let labelled = min(cellRows, 16)
        for j in 0..<labelled {
            let r = j * cellRows / labelled
            let first = r * rows.count / cellRows
            let last = max(first, (r + 1) * rows.count / cellRows - 1)
            let name =
                first == last || rows.count <= cellRows ? rows[first].name : "\(rows[first].name)–\(rows[last].name)"
            svg.text(name, x: Self.left - 6, y: Self.top + (Double(r) + 0.5) * ch + 4, size: 10, anchor: .end)
        }
        svg.text(rowLabel, x: Self.left - 6, y: Self.top - 8, size: 12, anchor: .end, weight: "bold")
        let t0 = time.first ?? 0
        let t1 = max(time.last ?? 1, t0 + 1e-9)
        for tick in Scale.nice(lower: t0, upper: t1, pixels: (Self.left, Self.left + plotWidth), roundTop: false).ticks
        {
            let x = Self.left + (tick - t0) / (t1 - t0) * plotWidth
            guard x >= Self.left - 0.5, x <= Self.left + plotWidth + 0.5 else { continue }
            svg.text(tickLabel(tick), x: x, y: Self.top + Self.plotHeight + 16, size: 11, anchor: .middle)
        }
        svg.text(
            "time since program start (s)", x: Self.left + plotWidth / 2, y: height - 14, size: 12, anchor: .middle)
        // The colour scale, with its unit.
        let legendX = Self.width - Self.right + 30
        for i in 0..<20 {
            let f = Double(19 - i) / 19
            svg.rect(
                x: legendX, y: Self.top + Double(i) * Self.plotHeight / 20, width: 16,
                height: Self.plotHeight / 20 + 0.05, fill: Self.color(f))
        }
        svg.text(tickLabel(top), x: legendX + 20, y: Self.top + 10, size: 11)
        svg.text("0", x: legendX + 20, y: Self.top + Self.plotHeight, size: 11)
        svg.text(valueLabel, x: legendX + 8, y: Self.top + Self.plotHeight + 28, size: 11, anchor: .middle)
        return svg.document
    }

    /// From pale yellow (0) through orange to dark red (the top): readable printed and on screen.
    static func color(_ f: Double) -> String {
        let stops: [(Double, Double, Double)] = [(255, 255, 204), (253, 141, 60), (128, 0, 38)]
        let x = f * 2
        let i = min(1, Int(x))
        let t = x - Double(i)
        let a = stops[i]
        let b = stops[i + 1]
        func mix(_ p: Double, _ q: Double) -> Int { Int((p + (q - p) * t).rounded()) }
        return "rgb(\(mix(a.0, b.0)),\(mix(a.1, b.1)),\(mix(a.2, b.2)))"
    }
}
