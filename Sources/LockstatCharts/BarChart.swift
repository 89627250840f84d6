/// Horizontal bars, one per entry, largest first: shares of a whole (wait time by class),
/// or counts (call sites). Each bar is labelled with its name and value.
public struct BarChart {
    public var title: String
    public var valueLabel: String
    public var entries: [(name: String, value: Double)]
    /// Shown after each value, e.g. " %".
    public var valueSuffix: String

    public init(title: String, valueLabel: String, entries: [(name: String, value: Double)], valueSuffix: String = "") {
        self.title = title
        self.valueLabel = valueLabel
        self.entries = entries
        self.valueSuffix = valueSuffix
    }

    static let width = 960, rowHeight = 22.0, left = 330.0, right = 120.0, top = 44.0, bottom = 50.0

    public var height: Int { Int(Self.top + Self.bottom + Self.rowHeight * Double(max(entries.count, 1))) }

    public func render() -> String { svg.document }

    /// The chart as an SVG value, to stand alone or inside another document.
    public var svg: SVG {
        var svg = SVG(width: Self.width, height: height)
        svg.rect(x: 0, y: 0, width: Double(Self.width), height: Double(height), fill: "white")
        svg.text(title, x: Double(Self.width) / 2, y: 24, size: 16, anchor: .middle, weight: "bold")
        let plotRight = Double(Self.width) - Self.right
        let scale = Scale.nice(lower: 0, upper: entries.map(\.value).max() ?? 1, pixels: (Self.left, plotRight))
        let bottomY = Self.top + Self.rowHeight * Double(max(entries.count, 1))
        for t in scale.ticks {
            let x = scale.pixel(t)
            svg.line(x1: x, y1: Self.top, x2: x, y2: bottomY, stroke: "#e4e4e4")
            svg.text(tickLabel(t), x: x, y: bottomY + 16, size: 11, anchor: .middle)
        }
        for (i, e) in entries.enumerated() {
            let y = Self.top + Self.rowHeight * Double(i)
            let name = e.name.count > 48 ? String(e.name.prefix(47)) + "…" : e.name
            svg.text(name, x: Self.left - 8, y: y + 15, size: 12, anchor: .end)
            svg.rect(
                x: Self.left, y: y + 3, width: max(0, scale.pixel(e.value) - Self.left), height: Self.rowHeight - 6,
                fill: Palette.color(for: e.name))
            svg.text(tickLabel(e.value) + valueSuffix, x: scale.pixel(e.value) + 6, y: y + 15, size: 11)
        }
        svg.line(x1: Self.left, y1: Self.top, x2: Self.left, y2: bottomY, stroke: "#444")
        svg.line(x1: Self.left, y1: bottomY, x2: plotRight, y2: bottomY, stroke: "#444")
        svg.text(valueLabel, x: (Self.left + plotRight) / 2, y: Double(height) - 12, size: 12, anchor: .middle)
        return svg
    }
}

/// Several charts one under the other in one SVG file (nested <svg> elements).
public enum ChartStack {
    public static func render(_ charts: [SVG]) -> String {
        var y = 0
        var body = [String]()
        for chart in charts {
            body.append(chart.nested(x: 0, y: y))
            y += chart.height
        }
        let width = charts.map(\.width).max() ?? 0
        return
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(y)\" "
            + "viewBox=\"0 0 \(width) \(y)\" font-family=\"DejaVu Sans, Verdana, sans-serif\">\n"
            + body.joined(separator: "\n") + "</svg>\n"
    }
}
