import Foundation
import LockstatCharts

/// DIR/index.html: one self-contained page of a run, over the generic results and run.json —
/// what ran and where, then per module its notes, tables, time charts and flame graphs. Nothing
/// is fetched (inline CSS, script and SVG; a Content-Security-Policy forbids every load and
/// every script but its own, which it names by hash, so no inline handler can run); every name
/// is escaped for where it lands; tables and charts are plain HTML and SVG, the script only
/// sorts, filters, zooms and moves the shared time cursor.
public struct RunPage {
    /// run.json as written (no key when the run has none).
    public let metadata: RunMetadata
    public let modules: [(module: String, results: Results)]
    /// The test directory's files, for the links.
    public let files: [String]
    /// The run's findings as its terminal summary printed them (`TerminalSummary.lines`).
    public let summary: [String]

    /// Rows embedded per table; the rest are in samples.json.
    static let maxRows = 2000
    /// Rows shown before "show all".
    static let shownRows = 20
    /// Series per chart, and points per series in the cursor's data.
    static let maxSeries = 10, maxPoints = 1200

    public init(
        metadata: RunMetadata, modules: [(module: String, results: Results)], files: [String], summary: [String] = []
    ) {
        self.metadata = metadata
        self.modules = modules
        self.files = files
        self.summary = summary
    }

    /// A page over run.json's keys as JSONSerialization gives them (a run.json made by hand).
    public init(
        metadata json: [String: Any], modules: [(module: String, results: Results)], files: [String],
        summary: [String] = []
    ) {
        self.init(metadata: RunMetadata(json: json), modules: modules, files: files, summary: summary)
    }

    public var html: String {
        var body = header() + sections() + links()
        body += Self.chartData(charts)
        return Self.document(title: "lockstat: " + command, body: body)
    }

    /// A page around `body`, with the style, the script and the policy that allows only it.
    static func document(title: String, body: String) -> String {
        let policy =
            "default-src 'none'; script-src 'sha256-\(SHA256.base64(RunPageAssets.script))'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
        return """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="\(policy)">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title))</title>
            <style>\(RunPageAssets.style)</style>
            </head><body>
            \(body)<script>\(RunPageAssets.script)</script>
            </body></html>

            """
    }

    /// The charts' series for the cursor's readout, as data the script reads.
    static func chartData(_ charts: [Chart]) -> String {
        var data = [(String, PyValue)]()
        for (i, chart) in charts.enumerated() {
            data.append(
                (
                    "c\(i)",
                    .stringDict([
                        ("names", .strings(chart.series.map(\.name))), ("unit", .string(chart.unit)),
                        ("time", .series(decimated(chart.time))),
                        ("values", .list(chart.series.map { .series(decimated($0.values)) })),
                    ])
                ))
        }
        return "<script type=\"application/json\" id=\"lockstat-data\">"
            + JSON.encode(.stringDict(data), scriptSafe: true) + "</script>\n"
    }

    /// DIR/index.html from DIR's run.json, the results and the files DIR's manifest lists.
    public static func write(
        _ dir: TestDirectory, modules: [(module: String, results: Results)], summary: [String] = []
    ) throws {
        let page = RunPage(
            metadata: RunMetadata.read(dir), modules: modules, files: dir.recordedFiles(), summary: summary)
        try dir.write(fileName, page.html)
        try dir.addToManifest([fileName])
    }

    public static let fileName = "index.html"

    var command: String { metadata.command?.joined(separator: " ") ?? "?" }

    // MARK: top

    func header() -> String {
        func row(_ name: String, _ value: String) -> String {
            "<tr><th>\(Self.escape(name))</th><td>\(value)</td></tr>\n"
        }
        var out = "<header><h1>lockstat: <code>\(Self.escape(command))</code></h1>\n<table class=\"meta\">\n"
        if let started = metadata.started { out += row("started", Self.escape(started)) }
        if let seconds = metadata.seconds { out += row("duration", String(format: "%.3f s", seconds)) }
        if let status = metadata.exitStatus { out += row("exit status", "\(status)") }
        let machine: [((any CustomStringConvertible)?, String)] = [
            (metadata.kernelRelease, "kernel"), (metadata.cpuModel, "CPU model"),
            (metadata.cpus, "CPUs online"),
        ]
        for (v, name) in machine {
            if let v { out += row(name, Self.escape(v.description)) }
        }
        if let root = metadata.procRoot { out += row("replayed from", Self.escape(root)) }
        for m in metadata.modules ?? [] {
            var line = String(
                format: "every %g s: %d samples, %d missed ticks", m.intervalSeconds ?? 0, m.samples ?? 0,
                m.missedTicks ?? 0)
            if let failed = m.failedSamples, failed > 0 { line += ", \(failed) failed samples" }
            if let writes = m.failedWrites, writes > 0 { line += ", \(writes) failed writes" }
            out += row("module " + (m.name ?? "?"), Self.escape(line))
        }
        for s in metadata.skipped ?? [] {
            out += row(
                "module " + (s.module ?? "?"), "<span class=\"bad\">skipped: \(Self.escape(s.reason ?? "?"))</span>")
        }
        for note in metadata.notes ?? [] { out += row("cost", Self.escape(note)) }
        out += "</table>\n"
        if !summary.isEmpty {
            // The lines the run printed at its end, as they were laid out for a terminal.
            out += "<pre class=\"summary\">" + Self.escape(summary.joined(separator: "\n")) + "</pre>\n"
        }
        if let config = metadata.config {
            out += "<details><summary>config</summary><pre>\(Self.escape(config))</pre></details>\n"
        }
        let warnings = metadata.warnings ?? []
        if !warnings.isEmpty {
            out += "<ul class=\"warnings\">" + warnings.map { "<li>\(Self.escape($0))</li>" }.joined() + "</ul>\n"
        }
        out +=
            "<nav>"
            + modules.map { "<a href=\"#m-\(Self.escape($0.module))\">\(Self.escape($0.module))</a>" }.joined(
                separator: " ") + "</nav>\n"
        return out + "</header>\n"
    }

    // MARK: modules

    struct Chart {
        var module: String
        var unit: String
        var time: Column
        var series: [ResultSeries]
    }

    /// Each module's series, one chart per unit.
    var charts: [Chart] {
        modules.flatMap { m -> [Chart] in
            var units = [String]()
            for s in m.results.series where !units.contains(s.unit) { units.append(s.unit) }
            return units.map { unit in
                Chart(
                    module: m.module, unit: unit, time: m.results.time,
                    series: Array(m.results.series.filter { $0.unit == unit }.prefix(Self.maxSeries)))
            }
        }
    }

    func sections() -> String {
        var out = ""
        var chartIndex = 0
        let charts = self.charts
        let skipped = Set((metadata.skipped ?? []).compactMap(\.module))
        for m in modules {
            out += "<section class=\"module\" id=\"m-\(Self.escape(m.module))\"><h2>\(Self.escape(m.module))</h2>\n"
            out += m.results.notes.map { "<p class=\"note\">\(Self.escape($0))</p>\n" }.joined()
            for t in m.results.tables { out += table(t, module: m.module) }
            while chartIndex < charts.count && charts[chartIndex].module == m.module {
                out += chart(charts[chartIndex], index: chartIndex)
                chartIndex += 1
            }
            for s in m.results.stacks { out += flame(s, module: m.module) }
            out += "</section>\n"
        }
        for name in skipped where !modules.contains(where: { $0.module == name }) {
            let reason = metadata.skipped?.first { $0.module == name }?.reason ?? "?"
            out +=
                "<section class=\"module\" id=\"m-\(Self.escape(name))\"><h2>\(Self.escape(name))</h2><p class=\"bad\">skipped: \(Self.escape(reason))</p></section>\n"
        }
        return out
    }

    func table(_ t: ResultTable, module: String) -> String {
        let rows = TableReport.sorted(t, by: nil)
        var out = "<div class=\"table\"><h3>\(Self.escape(t.name))</h3>"
        if rows.count > Self.shownRows {
            out +=
                "<input type=\"search\" class=\"filter\" placeholder=\"filter\" aria-label=\"filter \(Self.escape(t.name))\"> "
        }
        out += "<table class=\"lt\" data-rows=\"\(rows.count)\"><thead><tr>"
        out += t.metrics.map {
            "<th class=\"num\" title=\"\(Self.escape($0.kind.rawValue + ", " + $0.unit))\">\(Self.escape(TableReport.heading($0)))</th>"
        }.joined()
        out += t.labels.map { "<th>\(Self.escape($0))</th>" }.joined() + "</tr></thead><tbody>\n"
        for row in rows.prefix(Self.maxRows) {
            out +=
                "<tr>"
                + zip(t.metrics, row.values).map { c, v in
                    "<td class=\"num\" data-v=\"\(v.isNaN ? "" : String(v))\">\(Self.escape(TableReport.cell(v, c)))</td>"
                }.joined() + row.labels.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>\n"
        }
        out += "</tbody></table>"
        if rows.isEmpty { out += "<p class=\"note\">no rows\(t.whenEmpty.map { ": " + Self.escape($0) } ?? "")</p>" }
        if rows.count > Self.maxRows {
            out +=
                "<p class=\"note\">the first \(Self.maxRows) of \(rows.count) rows; samples.json has them all (d['\(Self.escape(module))'])</p>"
        }
        return out + "</div>\n"
    }

    func chart(_ c: Chart, index: Int) -> String {
        let chart = TimeChart(
            title:
                "\(c.module): \(c.series.map(\.name).prefix(3).joined(separator: ", "))\(c.series.count > 3 ? ", …" : "")",
            yLabel: c.unit, time: c.time, series: c.series.map { TimeSeries(name: $0.name, values: $0.values) })
        var svg = chart.svg
        let axis = chart.timeAxis
        let plot = chart.plotTopBottom
        svg.raw(
            "<line class=\"cursor\" x1=\"0\" x2=\"0\" y1=\"\(plot.top)\" y2=\"\(plot.bottom)\" stroke=\"#d33\" stroke-width=\"1\" visibility=\"hidden\"/>"
        )
        return
            "<figure class=\"tc\" data-chart=\"c\(index)\" data-t0=\"\(axis.t0)\" data-t1=\"\(axis.t1)\" data-x0=\"\(axis.x0)\" data-x1=\"\(axis.x1)\" "
            + "data-width=\"\(TimeChart.size.width)\">" + svg.inline(class: "chart")
            + "<figcaption class=\"readout\">move over a chart: the same instant in every chart</figcaption></figure>\n"
    }

    func flame(_ s: ResultStacks, module: String) -> String {
        var graph = FlameGraph(
            title: "\(module): \(s.name) by call stack", countName: s.unit == "ns" ? "ns of \(s.name)" : s.name,
            stacks: s.folded.map { (frames: $0.stack.split(separator: ";").map(String.init), weight: $0.weight) })
        graph.minWidth = 1
        graph.embedded = true
        let (svg, pruned) = graph.rendered()
        return
            "<figure class=\"flame\"><input type=\"search\" class=\"find\" placeholder=\"search frames (regular expression)\" aria-label=\"search \(Self.escape(s.name))\">"
            + svg.inline(class: "flamegraph")
            + "<figcaption>click a frame to zoom, the bottom frame to reset\(pruned > 0 ? "; \(pruned) frames narrower than a pixel left out" : "")</figcaption></figure>\n"
    }

    func links() -> String {
        let shown = files.filter { $0 != "index.html" }.sorted()
        return "<footer><h2>files</h2><p>"
            + shown.map { "<a href=\"\(Self.escape(Self.percentEncoded($0)))\">\(Self.escape($0))</a>" }.joined(
                separator: " ") + " <a href=\"samples/\">samples/</a></p></footer>\n"
    }

    // MARK: escaping

    /// Text for HTML element content and quoted attribute values alike: the SVG writer's
    /// escaping (`<>&"'` and the controls XML forbids), which HTML reads the same way.
    static func escape(_ s: String) -> String { SVG.escape(s) }

    static func percentEncoded(_ s: String) -> String {
        s.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? s
    }

    /// At most `maxPoints` values, evenly spaced over the series: enough for a cursor's readout.
    static func decimated(_ values: Column) -> [Double] {
        guard values.count > maxPoints else { return values.values }
        return (0..<maxPoints).map { values[$0 * (values.count - 1) / (maxPoints - 1)] }
    }
}
