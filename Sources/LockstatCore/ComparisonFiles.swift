import Foundation
import LockstatCharts

/// `compare --output DIR`: compare.json, and per module with call stacks a differential flame
/// graph (B's widths, red where the stack grew against A, blue where it shrank) beside its
/// folded pairs (`stack weightA weightB`, difffolded.pl's format). Weights are each side's
/// mean over its runs, per second of run time unless the comparison is of totals.
public enum ComparisonFiles {
    public static func write(_ c: Comparison, json: String, into path: String) throws {
        let dir = TestDirectory(path)
        try dir.prepareForOutput(kind: "compare")
        var files = ["compare.json", RunPage.fileName]
        try dir.write("compare.json", json)
        var flames = [String]()
        for (module, name, unit) in stackNames(c) {
            let a = mean(c.a, module, name, perSecond: !c.options.totals)
            let b = mean(c.b, module, name, perSecond: !c.options.totals)
            let keys = Array(Set(a.keys).union(b.keys)).sorted()
            let file = "\(module)_\(name)_diff"
            try dir.write(
                file + ".difffolded",
                keys.map { "\($0) \(number(a[$0] ?? 0)) \(number(b[$0] ?? 0))" }.joined(separator: "\n") + "\n")
            let what = (unit == "ns" ? "ns of \(name)" : name) + (c.options.totals ? "" : " per second")
            let graph = FlameGraph(
                title: "\(module) \(name): B against A", countName: what,
                stacks: keys.map { (frames: $0.split(separator: ";").map(String.init), weight: b[$0] ?? 0) },
                subtitle: "widths: B (\(c.b.path)); red: grew from A (\(c.a.path)), blue: shrank",
                baseline: keys.map { (frames: $0.split(separator: ";").map(String.init), weight: a[$0] ?? 0) })
            try dir.write(file + ".svg", graph.render())
            files += [file + ".difffolded", file + ".svg"]
            var embedded = graph
            embedded.embedded = true
            embedded.minWidth = 1
            flames.append(
                "<figure class=\"flame\"><input type=\"search\" class=\"find\" placeholder=\"search frames (regular expression)\">"
                    + embedded.rendered().svg.inline(class: "flamegraph")
                    + "<figcaption>click a frame to zoom</figcaption></figure>\n")
        }
        try dir.write(RunPage.fileName, page(c, flames: flames))
        try dir.addToManifest(files)
        try Privileges.giveToInvokingUser(dir)
    }

    /// The comparison on one page: its notes, every table (sortable, filterable), the
    /// differential flame graphs.
    static func page(_ c: Comparison, flames: [String]) -> String {
        let report = ComparisonReport(c, top: .max, ascii: false)
        var body =
            "<header><h1>lockstat compare</h1><p>A: <code>\(RunPage.escape(c.a.path))</code> (\(ComparisonReport.runs(c.a))), "
            + "B: <code>\(RunPage.escape(c.b.path))</code> (\(ComparisonReport.runs(c.b)))</p>"
        body +=
            (c.differences + [c.tooFewRuns].compactMap { $0 }).map { "<p class=\"bad\">\(RunPage.escape($0))</p>" }
            .joined() + "</header>\n"
        for t in c.tables where !t.rows.isEmpty {
            body +=
                "<section class=\"module\"><h2>\(RunPage.escape(t.module + " " + t.name + ": " + t.column.title + (t.perSecond ? " per second of run time" : "")))</h2>"
            if t.rows.count > RunPage.shownRows {
                body += "<input type=\"search\" class=\"filter\" placeholder=\"filter\"> "
            }
            body +=
                "<table class=\"lt\"><thead><tr><th>row</th><th class=\"num\">A</th><th class=\"num\">B</th><th class=\"num\">change</th><th class=\"num\">p</th></tr></thead><tbody>\n"
            for r in t.rows {
                func cell(_ v: Double, _ text: String) -> String {
                    "<td class=\"num\" data-v=\"\(v.isFinite ? String(v) : "")\">\(RunPage.escape(text))</td>"
                }
                body +=
                    "<tr><td>\(RunPage.escape(r.labels.joined(separator: " ")))</td>"
                    + cell(r.medianA, report.value(r.medianA, t)) + cell(r.medianB, report.value(r.medianB, t))
                    + cell(r.change, ComparisonReport.change(r))
                    + cell(
                        r.p ?? .nan,
                        r.p == nil ? "" : (r.significant ? ComparisonReport.p(r.p) : "~ " + ComparisonReport.p(r.p)))
                    + "</tr>\n"
            }
            body += "</tbody></table></section>\n"
        }
        body += flames.joined() + "<script type=\"application/json\" id=\"lockstat-data\">{}</script>\n"
        return RunPage.document(title: "lockstat compare \(c.a.path) \(c.b.path)", body: body)
    }

    static func stackNames(_ c: Comparison) -> [(String, String, String)] {
        var names = [(String, String, String)]()
        for run in c.a.runs + c.b.runs {
            for m in run.results {
                for s in m.results.stacks where !names.contains(where: { $0.0 == m.module && $0.1 == s.name }) {
                    names.append((m.module, s.name, s.unit))
                }
            }
        }
        return names
    }

    /// Each stack's weight averaged over the side's runs (a run without it counts 0).
    static func mean(_ g: RunGroup, _ module: String, _ name: String, perSecond: Bool) -> [String: Double] {
        var sum = [String: Double]()
        for run in g.runs {
            guard
                let stacks = run.results.first(where: { $0.module == module })?.results.stacks.first(where: {
                    $0.name == name
                })
            else { continue }
            for s in stacks.folded { sum[s.stack, default: 0] += perSecond ? s.weight / run.seconds : s.weight }
        }
        return sum.mapValues { $0 / Double(max(1, g.runs.count)) }
    }

    static func number(_ v: Double) -> String { String(format: "%.6g", v) }
}
