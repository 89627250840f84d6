import LockstatCore

extension FutexModel {
    /// The user-space locks waited on longest, as `lockstat report` ranks them (by the wait of
    /// contention kinds), with each one's share of all such wait in the run. Condition variables
    /// and barriers wait for an event, not a holder: they are left out, as the report ranks them last.
    public func summary(width: Int) -> SummaryPart? {
        var table = results.tables[0]
        let contention = table.metric("contention_wait")!
        table.rows = table.rows.filter { $0.values[contention] > 0 }
        guard !table.rows.isEmpty else {
            let slept = locks.reduce(0) { $0 + $1.waits }
            return SummaryPart(
                .ranking,
                ["futex: no user-space lock was contended in the run (\(slept) futex waits slept, none on a lock)"])
        }
        let title = "most contended user-space locks (futex, by lock word; \(table.rows.count) in `lockstat report`):"
        return SummaryPart(
            .ranking,
            TerminalSummary.ranking(
                title: title, table: table, columns: ["waits", "contention_wait"], labels: [0, 2],
                names: [
                    TerminalSummary.RowName("released by") { row in
                        locks.first { $0.key == row.labels[2] }?.releasedBy ?? "-"
                    }
                ], width: width))
    }
}
