import LockstatCore

extension LockStatModel {
    /// The lock classes that waited longest over the run, as `lockstat report` ranks them, with
    /// each one's share of all the classes' wait.
    public func summary(width: Int) -> SummaryPart? {
        let table = results.tables[0]
        guard !table.rows.isEmpty else { return nil }
        return SummaryPart(
            .ranking,
            TerminalSummary.ranking(
                title: "most contended lock classes (lock_stat; \(table.rows.count) in `lockstat report`):",
                table: table, columns: ["contentions", "wait-total", "wait-max"], labels: [0], width: width))
    }
}
