import Foundation
import LockstatCharts

/// `lockstat report`: every module's tables as text, over the generic form alone. One `--sort`
/// serves every table: each table that has the key sorts by it, the others by their own main
/// metric; `--by` picks, in each module with groupings, the table of that grouping.
public struct TableReport {
    public let modules: [(module: String, results: Results)]

    public init(modules: [(module: String, results: Results)]) { self.modules = modules }

    /// The tables shown with `by`: per module, those without a grouping and the one of grouping
    /// `by` (the module's first grouping where it has none such).
    func shown(by: String?) -> [(module: String, notes: [String], table: ResultTable)] {
        modules.flatMap { m -> [(module: String, notes: [String], table: ResultTable)] in
            let groupings = m.results.tables.compactMap(\.grouping)
            let chosen = by.flatMap { groupings.contains($0) ? $0 : nil } ?? groupings.first
            return m.results.tables.filter { $0.reported && ($0.grouping == nil || $0.grouping == chosen) }.map {
                (m.module, m.results.notes, $0)
            }
        }
    }

    public func render(sort: String?, by: String?, top: Int) throws -> String {
        let groupings = modules.flatMap { $0.results.tables.filter(\.reported).compactMap(\.grouping) }
        if let by, !groupings.contains(by) {
            throw LockstatError.usage(
                "--by: unknown grouping '\(by)'; "
                    + (groupings.isEmpty
                        ? "this run's tables have none" : "one of " + groupings.joined(separator: ", ")))
        }
        let tables = shown(by: by)
        if let sort, !tables.contains(where: { $0.table.metric(sort) != nil || $0.table.labels.contains(sort) }) {
            let names = Dictionary(grouping: tables, by: \.module)
            throw LockstatError.usage(
                "--sort: unknown key '\(sort)'; "
                    + tables.map { t in
                        (names[t.module]!.count == 1 ? t.module : "\(t.module) \(t.table.name)") + ": "
                            + Self.sortKeys(t.table).joined(separator: ", ")
                    }.joined(separator: "; "))
        }
        // A blank line between tables; a module's notes above its first table.
        var out = ""
        var lastModule: String?
        for t in tables {
            if !out.isEmpty { out += "\n" }
            if t.module != lastModule, !t.notes.isEmpty { out += t.notes.joined(separator: "\n") + "\n\n" }
            lastModule = t.module
            out += Self.text(t.table, sort: sort, top: top)
        }
        return out
    }

    /// The keys a table sorts by: its main metric first, then the other metrics, then its labels.
    public static func sortKeys(_ table: ResultTable) -> [String] {
        [table.defaultSort] + table.metrics.map(\.name).filter { $0 != table.defaultSort } + table.labels
    }

    /// Metrics right-aligned, then the labels left-aligned, the last one unpadded (names with
    /// spaces stay whole at the end of the line), as perf lock prints its tables; the first
    /// `top` rows.
    static func text(_ table: ResultTable, sort: String?, top: Int) -> String {
        let rows = sorted(table, by: sort)
        let shown = rows.prefix(max(0, top))
        let header = table.metrics.map(heading) + table.labels
        var lines = [header]
        for row in shown {
            lines.append(zip(table.metrics, row.values).map { cell($1, $0) } + row.labels)
        }
        let widths = header.indices.map { k in lines.map { $0[k].count }.max() ?? 0 }
        let m = table.metrics.count
        var text =
            lines.map { cells in
                let metrics = (0..<m).map { String(repeating: " ", count: widths[$0] - cells[$0].count) + cells[$0] }
                let labels = (m..<cells.count).map { k in
                    k == cells.count - 1
                        ? cells[k] : cells[k] + String(repeating: " ", count: widths[k] - cells[k].count)
                }
                return
                    (metrics.joined(separator: "  ") + (labels.isEmpty ? "" : "   " + labels.joined(separator: "   ")))
                    .trailingSpacesRemoved
            }.joined(separator: "\n") + "\n"
        if rows.isEmpty { text += "(no rows\(table.whenEmpty.map { ": " + $0 } ?? ""))\n" }
        return text
    }

    /// Most first by a metric (ties by the labels), or by a label A to Z.
    public static func sorted(_ table: ResultTable, by key: String?) -> [ResultRow] {
        if let key, let label = table.labels.firstIndex(of: key) {
            return table.rows.sorted { $0.labels[label] < $1.labels[label] }
        }
        let k = key.flatMap(table.metric) ?? table.metric(table.defaultSort)!
        func value(_ row: ResultRow) -> Double { row.values[k].isNaN ? -.infinity : row.values[k] }
        return table.rows.sorted { a, b in
            value(a) != value(b) ? value(a) > value(b) : a.labels.lexicographicallyPrecedes(b.labels)
        }
    }

    /// The title, with the unit where the cells do not show it.
    public static func heading(_ column: ResultColumn) -> String {
        column.unit == "1" || column.unit == "%" || Durations.secondsPer(column.unit) != nil
            ? column.title : "\(column.title) (\(column.unit))"
    }

    /// A value as its kind and unit say: counts whole, times auto-scaled with their unit.
    public static func cell(_ value: Double, _ column: ResultColumn) -> String {
        guard !value.isNaN else { return "-" }
        if let seconds = Durations.secondsPer(column.unit) { return Durations.text(seconds: value * seconds) }
        switch column.kind {
        case .count, .time: return String(format: "%.0f", value)
        case .percent: return String(format: "%.2f %%", value)
        case .rate, .gauge:
            return String(format: value == value.rounded() && abs(value) < 1e15 ? "%.0f" : "%.2f", value)
        }
    }
}

/// Durations as perf prints them: auto-scaled to ns, us, ms or s.
public enum Durations {
    public static func text(seconds: Double) -> String { UnitScale.duration.text(seconds) }

    /// Seconds in one of a time column's units.
    public static func secondsPer(_ unit: String) -> Double? {
        ["ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1][unit]
    }
}

extension String {
    var trailingSpacesRemoved: String {
        var s = self
        while s.hasSuffix(" ") { s.removeLast() }
        return s
    }
}
