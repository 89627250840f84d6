import LockstatCore

extension ContentionModel {
    /// The most contended callers, as `lockstat report` ranks them (by total wait), with each
    /// one's share of all the wait in the run.
    public func summary(width: Int) -> SummaryPart? {
        let table = results.tables[0]
        let rows = TableReport.sorted(table, by: nil)
        let allWait = callers.reduce(0.0) { $0 + Double($1.total) }
        guard !rows.isEmpty else {
            return SummaryPart(.ranking, ["contention: no lock was contended in the run"])
        }
        let columns = ["contended", "wait_total", "wait_max"].map { table.metrics[table.metric($0)!] }
        let shown = rows.prefix(TerminalSummary.topRows).map { row -> [String] in
            let total = row.values[table.metric("wait_total")!]
            let share = allWait > 0 ? String(format: "%.1f %%", total / allWait * 100) : "-"
            return columns.map { TerminalSummary.value(row.values[table.metric($0.name)!], $0) }
                + [share, row.labels[0], row.labels[1]]
        }
        let header = columns.map { TableReport.heading($0) } + ["share", "type", "caller"]
        let title =
            "most contended locks (contention\(cost.map { ", " + $0.mode } ?? ""), by caller; "
            + "\(rows.count) in `lockstat report`):"
        return SummaryPart(
            .ranking, [TerminalSummary.cut(title, to: width)] + TerminalSummary.table(
                header: header, rows: shown, numbers: 4, width: width - 2
            ).map { "  " + $0 })
    }
}
