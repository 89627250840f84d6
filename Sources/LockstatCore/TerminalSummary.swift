/// A module's part of the summary a run prints at its end and its page shows at the top.
public struct SummaryPart: Sendable {
    /// Rankings (the most contended locks) come first, then one-line overviews (CPU, disks).
    public enum Section: Int, Sendable, Comparable {
        case ranking, overview
        public static func < (a: Section, b: Section) -> Bool { a.rawValue < b.rawValue }
    }

    public var section: Section
    public var lines: [String]

    public init(_ section: Section, _ lines: [String]) {
        self.section = section
        self.lines = lines
    }
}

/// The answer on the terminal: the modules' summary parts laid out in the columns a terminal
/// has, with numbers formatted as `lockstat report` and the page format them.
public enum TerminalSummary {
    /// Columns every line fits in.
    public static let width = 80
    /// Rows of a ranking.
    public static let topRows = 5
    /// Lines start this far in, under the run's line.
    public static let indent = "  "

    /// The modules' parts, rankings first, each section in the modules' order, indented and
    /// wrapped to `width`: the terminal and the page show these same lines.
    public static func lines(_ models: [(module: String, model: any ModuleModel)], width: Int = width) -> [String] {
        let parts = models.compactMap { $0.model.summary(width: width - indent.count) }
        return parts.enumerated().sorted { ($0.element.section, $0.offset) < ($1.element.section, $1.offset) }
            .flatMap { $0.element.lines }.flatMap { wrapped(indent + $0, width: width) }
    }

    /// A name the model gives each row beside the table's labels (who released a caller's waits).
    public struct RowName {
        public var header: String
        public var cell: (ResultRow) -> String

        public init(_ header: String, cell: @escaping (ResultRow) -> String) {
            self.header = header
            self.cell = cell
        }
    }

    /// A label no symbol named (a caller whose stack has no frame outside the lock functions): one
    /// word, so the columns still line up.
    static let unnamed = "[unknown]"

    /// The first `topRows` rows of `table` as the report ranks them: the metrics `columns` as the
    /// report prints them, each row's share of the main metric's sum over every row, then the
    /// labels at `labels` and the `names` (cut to the width); under a title.
    public static func ranking(
        title: String, table: ResultTable, columns: [String], labels: [Int], names: [RowName] = [], width: Int
    ) -> [String] {
        let rows = TableReport.sorted(table, by: nil)
        let main = table.metric(table.defaultSort)!
        let sum = table.rows.reduce(0.0) { $0 + ($1.values[main].isNaN ? 0 : $1.values[main]) }
        let metrics = columns.map { table.metrics[table.metric($0)!] }
        let shown = rows.prefix(topRows).map { row in
            metrics.map { value(row.values[table.metric($0.name)!], $0) }
                + [sum > 0 ? String(format: "%.1f %%", row.values[main] / sum * 100) : "-"]
                + labels.map { row.labels[$0].isEmpty ? Self.unnamed : row.labels[$0] } + names.map { $0.cell(row) }
        }
        let header =
            metrics.map(TableReport.heading) + ["share"] + labels.map { table.labels[$0] } + names.map(\.header)
        return [cut(title, to: width)]
            + Self.table(header: header, rows: shown, numbers: metrics.count + 1, width: width - 2).map { "  " + $0 }
    }

    /// A value as the report and the page print it, with its unit: times auto-scaled, percentages
    /// with `%`, other rates and gauges with their unit after them.
    public static func value(_ value: Double, _ column: ResultColumn) -> String {
        let cell = TableReport.cell(value, column)
        guard !value.isNaN, Durations.secondsPer(column.unit) == nil, column.kind != .percent else { return cell }
        return column.unit == "1" || column.unit.isEmpty ? cell : cell + " " + column.unit
    }

    /// Rows under a header: the first `numbers` columns right-aligned, the others (names)
    /// left-aligned; where a line would pass `width`, the widest names are cut with "…" to one
    /// width, the largest that fits, so that no name loses more than it must.
    public static func table(header: [String], rows: [[String]], numbers: Int, width: Int) -> [String] {
        let all = [header] + rows
        let last = header.count - 1
        var widths = header.indices.map { k in all.map { $0[k].count }.max() ?? 0 }
        let names = min(numbers, header.count)..<header.count
        let room = width - widths[..<names.lowerBound].reduce(0, +) - 2 * last
        func needed(_ cap: Int) -> Int { names.reduce(0) { $0 + min(widths[$1], cap) } }
        if let widest = names.map({ widths[$0] }).max(), needed(widest) > room {
            var cap = widest
            while cap > 1, needed(cap) > room { cap -= 1 }
            for k in names { widths[k] = min(widths[k], cap) }
        }
        return all.map { cells in
            (0...last).map { k in
                let cell = cut(cells[k], to: widths[k])
                let pad = String(repeating: " ", count: k == last ? 0 : widths[k] - cell.count)
                return k < numbers ? pad + cell : cell + pad
            }.joined(separator: "  ")
        }
    }

    /// `text` in at most `columns` characters: the end replaced by "…" when it is longer.
    public static func cut(_ text: String, to columns: Int) -> String {
        text.count <= columns ? text : String(text.prefix(max(0, columns - 1))) + "…"
    }

    /// A line longer than `width` broken after a comma or semicolon where it can be, else at a
    /// space (never between a number and its unit where a list item fits), the rest 2 columns
    /// further in than its first line; a word longer than the width (a path) stays whole.
    public static func wrapped(_ line: String, width: Int = width) -> [String] {
        guard line.count > width else { return [line] }
        let lead = String(line.prefix { $0 == " " })
        let body = line.dropFirst(lead.count)
        // List items (", " and "; " end them), each broken at spaces only when it alone is too long.
        var items = [String]()
        var item = ""
        for (i, c) in zip(body.indices, body) {
            item.append(c)
            let next = body.index(after: i)
            if c == "," || c == ";", next < body.endIndex, body[next] == " " {
                items.append(item)
                item = ""
            }
        }
        items.append(item)
        let continued = lead + "  "
        var lines = [String]()
        var current = lead
        for item in items.map({ $0.hasPrefix(" ") ? String($0.dropFirst()) : $0 }) {
            let atStart = current.allSatisfy { $0 == " " }
            let joined = atStart ? current + item : current + " " + item
            if joined.count <= width {
                current = joined
                continue
            }
            if !atStart {
                lines.append(current)
                current = continued
            }
            for word in item.split(separator: " ") {
                let start = current.allSatisfy { $0 == " " }
                let candidate = start ? current + word : current + " " + word
                if candidate.count > width, !start {
                    lines.append(current)
                    current = continued + word
                } else {
                    current = candidate
                }
            }
        }
        lines.append(current)
        return lines
    }
}
