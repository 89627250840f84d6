import LockstatCore

extension ContentionModel {
    /// The most contended callers, as `lockstat report` ranks them (by total wait), with each
    /// one's share of all the wait in the run; where wakers were recorded, the site that released
    /// most of each caller's waits ("-": no task woke them), else where owners were, the top owner
    /// of the lock it waited on longest ("-": none seen), in max wait's place to keep 80 columns.
    public func summary(width: Int) -> SummaryPart? {
        let table = results.tables[0]
        guard !table.rows.isEmpty else {
            return SummaryPart(.ranking, ["contention: no lock was contended in the run"])
        }
        let title =
            "most contended locks (contention\(cost.map { ", " + $0.mode } ?? ""), by caller; "
            + "\(table.rows.count) in `lockstat report`):"
        let name: TerminalSummary.RowName?
        if wakers != nil {
            name = TerminalSummary.RowName("released by") { row in topWakerSite(caller: row.labels[1])?.site ?? "-" }
        } else if callerLocks != nil {
            name = TerminalSummary.RowName("owner") { row in topOwner(caller: row.labels[1]) ?? "-" }
        } else {
            name = nil
        }
        return SummaryPart(
            .ranking,
            TerminalSummary.ranking(
                title: title, table: table,
                columns: name == nil ? ["contended", "wait_total", "wait_max"] : ["contended", "wait_total"],
                labels: [0, 1], names: name.map { [$0] } ?? [], width: width))
    }
}
