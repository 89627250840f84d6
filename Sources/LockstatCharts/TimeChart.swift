import LockstatColumns

/// One named series of a time chart: a value per sample time, NaN (or ±∞) for a gap.
public struct TimeSeries {
    public var name: String
    public var values: Column

    public init(name: String, values: Column) {
        self.name = name
        self.values = values
    }

    /// nil for a gap.
    public init(name: String, values: [Double?]) { self.init(name: name, values: Column(values)) }
}

/// A chart over measured time: lines, or areas stacked on each other (for shares such as CPU %).
/// However long the run, it draws at most what the pixels can show: lines keep the minimum and
/// maximum of each pixel column, stacked areas the mean of each column (stacking extremes of
/// different series would invent totals that never happened).
public struct TimeChart {
    public var title: String
    public var yLabel: String
    public var xLabel = "time since program start (s)"
    public var time: Column
    public var series: [TimeSeries]
    public var stacked = false
    /// A fixed top (100 for percentages); else the data's maximum, rounded up to a tick.
    public var yMax: Double?

    public init(
        title: String, yLabel: String, time: Column, series: [TimeSeries], stacked: Bool = false, yMax: Double? = nil
    ) {
        self.title = title
        self.yLabel = yLabel
        self.time = time
        self.series = series
        self.stacked = stacked
        self.yMax = yMax
    }

    public init(
        title: String, yLabel: String, time: [Double], series: [TimeSeries], stacked: Bool = false, yMax: Double? = nil
    ) {
        self.init(title: title, yLabel: yLabel, time: Column(time), series: series, stacked: stacked, yMax: yMax)
    }

    static let width = 960, height = 440
    static let left = 80.0, right = 230.0, top = 40.0, bottom = 55.0

    /// Where time runs on the chart: seconds t0…t1 over x pixels x0…x1 (for a page's cursor).
    public var timeAxis: (t0: Double, t1: Double, x0: Double, x1: Double) {
        let (t0, t1) = timeSpan
        return (t0, t1, plotLeft, plotRight)
    }

    /// The span of the times as they are: a damaged log can hold them out of order.
    var timeSpan: (Double, Double) {
        var low = Double.infinity
        var high = -Double.infinity
        for t in time where t.isFinite {
            low = min(low, t)
            high = max(high, t)
        }
        let t0 = min(0, low.isFinite ? low : 0)
        return (t0, max(high.isFinite ? high : 1, t0 + 1e-9))
    }
    public static var size: (width: Int, height: Int) { (width, height) }
    public var plotTopBottom: (top: Double, bottom: Double) { (plotTop, plotBottom) }

    var plotLeft: Double { Self.left }
    var plotRight: Double { Double(Self.width) - Self.right }
    var plotTop: Double { Self.top }
    var plotBottom: Double { Double(Self.height) - Self.bottom }
    var columns: Int { Int(plotRight - plotLeft) }

    public func render() -> String { svg.document }

    /// The chart as an SVG value, to stand alone or inside another document.
    public var svg: SVG {
        var svg = SVG(width: Self.width, height: Self.height)
        svg.rect(x: 0, y: 0, width: Double(Self.width), height: Double(Self.height), fill: "white")
        svg.text(title, x: Double(Self.width) / 2, y: 24, size: 16, anchor: .middle, weight: "bold")
        let (t0, t1) = timeSpan
        let xScale = Scale(lower: t0, upper: t1, pixelLow: plotLeft, pixelHigh: plotRight)
        let shapes = stacked ? stackedColumns(xScale) : lineColumns(xScale)
        let top = yMax ?? shapes.maximum
        let yScale = Scale.nice(lower: 0, upper: top, pixels: (plotBottom, plotTop), roundTop: yMax == nil)
        drawAxes(&svg, x: Scale.nice(lower: t0, upper: t1, pixels: (plotLeft, plotRight), roundTop: false), y: yScale)
        for shape in shapes.items {
            let color = Palette.color(for: shape.name)
            switch shape.kind {
            case .lines(let segments):
                for seg in segments { svg.polyline(seg.map { ($0.0, yScale.pixel($0.1)) }, stroke: color) }
            case .band(let upper, let lower):
                let pts = upper.map { ($0.0, yScale.pixel($0.1)) } + lower.reversed().map { ($0.0, yScale.pixel($0.1)) }
                svg.polygon(pts, fill: color, title: shape.name)
            }
        }
        drawLegend(&svg, names: series.map(\.name))
        return svg
    }

    struct Shape {
        enum Kind {
            case lines([[(Double, Double)]])
            case band(upper: [(Double, Double)], lower: [(Double, Double)])
        }
        let name: String
        let kind: Kind
    }

    struct Shapes {
        var items: [Shape] = []
        var maximum = 0.0
    }

    /// Pixel column of each sample.
    func column(_ x: Double, _ scale: Scale) -> Int {
        let p = scale.pixel(x) - plotLeft
        guard p.isFinite else { return 0 }
        return Int(min(Double(columns - 1), max(0, p)))
    }

    func lineColumns(_ xScale: Scale) -> Shapes {
        var shapes = Shapes()
        for s in series {
            var segments = [[(Double, Double)]]()
            var current = [(Double, Double)]()
            // The pixel column's lowest and highest samples: (index, time, value).
            var bucket = -1
            var low: (Int, Double, Double)?
            var high: (Int, Double, Double)?
            func flushBucket() {
                guard let l = low, let h = high else { return }
                for p in l.0 == h.0 ? [l] : (l.0 < h.0 ? [l, h] : [h, l]) { current.append((xScale.pixel(p.1), p.2)) }
                low = nil
                high = nil
            }
            for (i, (t, v)) in zip(time, s.values).enumerated() {
                guard v.isFinite else {
                    flushBucket()
                    if !current.isEmpty {
                        segments.append(current)
                        current = []
                    }
                    continue
                }
                shapes.maximum = max(shapes.maximum, v)
                let c = column(t, xScale)
                if c != bucket {
                    flushBucket()
                    bucket = c
                }
                if low == nil || v < low!.2 { low = (i, t, v) }
                if high == nil || v > high!.2 { high = (i, t, v) }
            }
            flushBucket()
            if !current.isEmpty { segments.append(current) }
            shapes.items.append(Shape(name: s.name, kind: .lines(segments)))
        }
        return shapes
    }

    func stackedColumns(_ xScale: Scale) -> Shapes {
        // Mean per pixel column per series; a gap counts as 0 in the stack.
        var columnX = [Double]()
        var sums = [[Double]]()
        var counts = [Int]()
        var bucket = -1
        var readers = series.map { $0.values.makeIterator() }
        var values = [Double](repeating: .nan, count: series.count)
        for t in time {
            for j in readers.indices { values[j] = readers[j].next() ?? .nan }
            guard values.contains(where: \.isFinite) else { continue }
            let c = column(t, xScale)
            if c != bucket {
                bucket = c
                columnX.append(0)
                counts.append(0)
                sums.append([Double](repeating: 0, count: series.count))
            }
            let k = columnX.count - 1
            columnX[k] += xScale.pixel(t)
            counts[k] += 1
            for j in values.indices where values[j].isFinite { sums[k][j] += values[j] }
        }
        var shapes = Shapes()
        var base = [Double](repeating: 0, count: columnX.count)
        let xs = zip(columnX, counts).map { $0 / Double($1) }
        for (j, s) in series.enumerated() {
            let upper = base.indices.map { base[$0] + sums[$0][j] / Double(counts[$0]) }
            shapes.items.append(
                Shape(name: s.name, kind: .band(upper: Array(zip(xs, upper)), lower: Array(zip(xs, base)))))
            base = upper
        }
        shapes.maximum = base.max() ?? 0
        return shapes
    }

    func drawAxes(_ svg: inout SVG, x: Scale, y: Scale) {
        for t in y.ticks {
            let py = y.pixel(t)
            svg.line(x1: plotLeft, y1: py, x2: plotRight, y2: py, stroke: "#e4e4e4")
            svg.text(tickLabel(t), x: plotLeft - 6, y: py + 4, size: 11, anchor: .end)
        }
        for t in x.ticks where t >= x.lower && t <= x.upper {
            let px = x.pixel(t)
            svg.line(x1: px, y1: plotBottom, x2: px, y2: plotBottom + 5, stroke: "#444")
            svg.text(tickLabel(t), x: px, y: plotBottom + 18, size: 11, anchor: .middle)
        }
        svg.line(x1: plotLeft, y1: plotBottom, x2: plotRight, y2: plotBottom, stroke: "#444")
        svg.line(x1: plotLeft, y1: plotTop, x2: plotLeft, y2: plotBottom, stroke: "#444")
        svg.text(xLabel, x: (plotLeft + plotRight) / 2, y: Double(Self.height) - 14, size: 12, anchor: .middle)
        svg.text(yLabel, x: 18, y: (plotTop + plotBottom) / 2, size: 12, anchor: .middle, rotate: -90)
    }

    func drawLegend(_ svg: inout SVG, names: [String]) {
        let x = plotRight + 16
        // Stacked charts list the top layer first, as it is drawn on top.
        for (i, name) in (stacked ? names.reversed() : names).enumerated() {
            let y = plotTop + 8 + Double(i) * 18
            guard y < Double(Self.height) - 10 else { break }
            svg.rect(x: x, y: y - 9, width: 12, height: 12, fill: Palette.color(for: name), stroke: "#888")
            // Long names (C++ and Swift symbols) are cut to the legend's width; hover shows all.
            let fits = Int((Double(Self.width) - x - 22) / 6.8)
            if name.count > fits {
                svg.raw(
                    "<text x=\"\(svg.f(x + 18))\" y=\"\(svg.f(y + 1))\" font-size=\"12\" fill=\"#222\"><title>\(SVG.escape(name))</title>"
                        + SVG.escape(String(name.prefix(fits - 1)) + "…") + "</text>")
            } else {
                svg.text(name, x: x + 18, y: y + 1, size: 12)
            }
        }
    }
}
