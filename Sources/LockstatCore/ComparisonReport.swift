import Foundation
import LockstatCharts

/// A comparison as text for a patch mail (80 columns, `ascii` for mail clients that mangle the
/// rest), as JSON, and as CSV.
public struct ComparisonReport {
    public let comparison: Comparison
    public let top: Int
    public let ascii: Bool

    public init(_ comparison: Comparison, top: Int, ascii: Bool) {
        self.comparison = comparison
        self.top = top
        self.ascii = ascii
    }

    static let width = 80, labelWidth = 27, valueWidth = 11, intervalWidth = 5, changeWidth = 8, pWidth = 7

    public var text: String {
        let c = comparison
        var lines = Self.wrap(
            "lockstat compare: A = \(c.a.path) (\(Self.runs(c.a))), B = \(c.b.path) (\(Self.runs(c.b)))")
        lines += c.differences.flatMap { Self.wrap("note: " + $0) }
        if let few = c.tooFewRuns {
            lines += Self.wrap("note: " + few)
        } else {
            lines += Self.wrap(
                String(
                    format:
                        "Medians ± half their 95 %% CI (from 6 runs a side); p: two-sided Mann–Whitney U, Holm-corrected over each table's rows; ~ not significant at α = %g.",
                    c.options.alpha))
        }
        for table in c.tables where !table.rows.isEmpty {
            lines +=
                [""]
                + Self.wrap(
                    "\(table.module) \(table.name): \(table.column.title)"
                        + (table.perSecond ? " per second of run time" : ""))
            lines.append(Self.line(["", "A", "", "B", "", "change", "p"]))
            for row in table.rows.prefix(top) {
                let shown = c.tooFewRuns == nil || row.p != nil
                lines.append(
                    Self.line([
                        Self.truncate(row.labels.joined(separator: " "), Self.labelWidth),
                        value(row.medianA, table), Self.halfWidth(row.intervalA, row.medianA),
                        value(row.medianB, table), Self.halfWidth(row.intervalB, row.medianB),
                        Self.change(row), shown ? (row.significant ? Self.p(row.p) : "~") : "",
                    ]))
                let moved = table.movedTo(row)
                if table.rows.prefix(top).first(where: { $0.delta < 0 })?.labels == row.labels, !moved.isEmpty {
                    let targets = moved.map { "\($0.labels.first ?? "?") +\(value($0.delta, table))" }.joined(
                        separator: ", ")
                    lines += Self.wrap("\(table.column.title) moved to: " + targets, indent: "  ")
                }
            }
            if table.rows.count > top {
                lines.append("  (\(table.rows.count - top) more rows: --top \(table.rows.count))")
            }
        }
        let text = lines.joined(separator: "\n") + "\n"
        return ascii ? Self.ascii(text) : text
    }

    /// A value of the compared metric in its unit; per second when the table is.
    func value(_ v: Double, _ table: Comparison.Table) -> String {
        guard !v.isNaN else { return "-" }
        let suffix = table.perSecond ? "/s" : ""
        if let scale = Durations.secondsPer(table.column.unit) {
            return Durations.text(seconds: v * scale) + suffix
        }
        switch table.column.kind {
        case .percent: return String(format: "%.2f %%", v)
        case .count, .time: return Self.compact(v) + suffix
        case .rate, .gauge: return Self.compact(v) + (table.column.unit == "1" ? "" : " " + table.column.unit)
        }
    }

    static func compact(_ v: Double) -> String { UnitScale.compactCount.text(v) }

    static func runs(_ g: RunGroup) -> String {
        (g.isSet ? "\(g.runs.count) runs" : "1 run")
            + (g.failed.isEmpty ? "" : ", \(g.failed.count) failed and left out")
    }

    static func halfWidth(_ interval: (low: Double, high: Double)?, _ median: Double) -> String {
        guard let interval, median != 0 else { return "" }
        let percent = max(median - interval.low, interval.high - median) / abs(median) * 100
        return percent < 1000 ? String(format: "±%.0f%%", percent) : ">999%"
    }

    static func change(_ row: Comparison.Row) -> String {
        if row.medianA == 0 && row.medianB == 0 { return "0 %" }
        if row.medianA == 0 { return "new" }
        if row.medianB == 0 { return "gone" }
        // Eight columns: a change of 1000 % or more as the factor (B = 167 × A).
        return abs(row.change) < 1000
            ? String(format: "%+.1f %%", row.change) : String(format: "%.0fx", row.medianB / row.medianA)
    }

    static func p(_ p: Double?) -> String { p.map { $0 < 0.0001 ? "<0.0001" : String(format: "%.4f", $0) } ?? "" }

    static func line(_ cells: [String]) -> String {
        let widths = [labelWidth, valueWidth, intervalWidth, valueWidth, intervalWidth, changeWidth, pWidth]
        let first = cells[0].padding(toLength: widths[0], withPad: " ", startingAt: 0)
        let rest = zip(cells.dropFirst(), widths.dropFirst()).map {
            String(repeating: " ", count: max(0, $1 - $0.count)) + $0
        }
        return (first + " " + rest.joined(separator: " ")).trailingSpacesRemoved
    }

    static func truncate(_ s: String, _ width: Int) -> String {
        s.count <= width ? s : String(s.prefix(width - 1)) + "…"
    }

    /// Words wrapped at 80 columns after `indent`, continuation lines indented further.
    static func wrap(_ text: String, indent: String = "") -> [String] {
        var lines = [String]()
        var current = indent
        // A word longer than a line (a long path) is cut into pieces that fit.
        let room = width - indent.count - 4
        let words = text.split(separator: " ").flatMap { word in
            stride(from: 0, to: word.count, by: room).map { String(word.dropFirst($0).prefix(room)) }
        }
        for word in words {
            if current.count > indent.count && current.count + 1 + word.count > width {
                lines.append(current)
                current = indent + "    " + word
            } else {
                current += (current.count > indent.count ? " " : "") + word
            }
        }
        if current.count > indent.count { lines.append(current) }
        return lines
    }

    static func ascii(_ text: String) -> String {
        var out = text
        for (from, to) in [("±", "+-"), ("…", "~"), ("α", "alpha"), ("–", "-"), ("≥", ">="), ("µ", "u")] {
            out = out.replacingOccurrences(of: from, with: to)
        }
        return String(out.unicodeScalars.map { $0.isASCII ? Character($0) : "?" })
    }

    // MARK: machine-readable

    public var json: String {
        let c = comparison
        func side(_ g: RunGroup) -> PyValue {
            .stringDict([
                ("path", .string(g.path)), ("runs", .strings(g.runs.map(\.directory))),
                (
                    "failed",
                    .list(
                        g.failed.map {
                            .stringDict([("directory", .string($0.directory)), ("exit_status", .int(Int64($0.status)))])
                        })
                ),
            ])
        }
        func interval(_ i: (low: Double, high: Double)?) -> PyValue {
            i.map { .list([.float($0.low), .float($0.high)]) } ?? .none
        }
        let tables = c.tables.map { t -> PyValue in
            .stringDict([
                ("module", .string(t.module)), ("table", .string(t.name)), ("metric", .string(t.column.name)),
                ("unit", .string(t.column.unit + (t.perSecond ? "/s" : ""))), ("per_second", .bool(t.perSecond)),
                (
                    "rows",
                    .list(
                        t.rows.map { r in
                            .stringDict([
                                ("labels", .strings(r.labels)), ("a", .series(r.a)), ("b", .series(r.b)),
                                ("median_a", .float(r.medianA)), ("median_b", .float(r.medianB)),
                                ("ci_a", interval(r.intervalA)), ("ci_b", interval(r.intervalB)),
                                ("change_percent", r.change.isFinite ? .float(r.change) : .none),
                                ("p", r.p.map(PyValue.float) ?? .none), ("significant", .bool(r.significant)),
                                ("moved_to", .list(t.movedTo(r).map { .strings($0.labels) })),
                            ])
                        })
                ),
            ])
        }
        return JSON.encode(
            .stringDict([
                ("a", side(c.a)), ("b", side(c.b)), ("alpha", .float(c.options.alpha)),
                ("notes", .strings(c.differences + [c.tooFewRuns].compactMap { $0 })), ("tables", .list(tables)),
            ]))
    }

    public var csv: String {
        func field(_ s: String) -> String {
            s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ v: Double?) -> String { v.map { $0.isFinite ? String($0) : "" } ?? "" }
        var lines = ["module,table,row,metric,unit,median_a,median_b,change_percent,p,significant,runs_a,runs_b"]
        for t in comparison.tables {
            for r in t.rows {
                lines.append(
                    [
                        t.module, t.name, r.labels.joined(separator: " "), t.column.name,
                        t.column.unit + (t.perSecond ? "/s" : ""),
                        number(r.medianA), number(r.medianB), number(r.change), number(r.p),
                        r.significant ? "yes" : "no",
                        String(r.a.count), String(r.b.count),
                    ].map(field).joined(separator: ","))
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
