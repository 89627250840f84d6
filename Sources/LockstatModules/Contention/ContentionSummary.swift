import LockstatCore

extension ContentionModel {
    /// The most contended callers, as `lockstat report` ranks them (by total wait), with each
    /// one's share of all the wait in the run.
    public func summary(width: Int) -> SummaryPart? {
        let table = results.tables[0]
        guard !table.rows.isEmpty else {
            return SummaryPart(.ranking, ["contention: no lock was contended in the run"])
        }
        let title =
            "most contended locks (contention\(cost.map { ", " + $0.mode } ?? ""), by caller; "
            + "\(table.rows.count) in `lockstat report`):"
        return SummaryPart(
            .ranking,
            TerminalSummary.ranking(
                title: title, table: table, columns: ["contended", "wait_total", "wait_max"], labels: [0, 1],
                width: width))
    }
}
