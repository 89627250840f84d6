import LockstatCore

extension DiskstatsModel {
    /// One line of iostat -x over the whole run (the page's `devices` table): the whole disk
    /// busiest by %util (the one named), its reads and writes per second and their average waits.
    public func summary(width: Int) -> SummaryPart? {
        let table = results.tables[0]
        let util = table.metric("%util")!
        let disks = table.rows.filter { wholeDisks.isEmpty || wholeDisks.contains($0.labels[0]) }
        guard let busiest = disks.filter({ !$0.values[util].isNaN }).max(by: { $0.values[util] < $1.values[util] })
        else {
            return SummaryPart(.overview, ["disks: no I/O in the run"])
        }
        func value(_ name: String) -> String {
            TerminalSummary.value(busiest.values[table.metric(name)!], table.metrics[table.metric(name)!])
        }
        // Requests per second, named as iostat names them.
        func rate(_ name: String) -> String {
            TableReport.cell(busiest.values[table.metric(name)!], table.metrics[table.metric(name)!]) + " " + name
        }
        return SummaryPart(
            .overview,
            [
                "disk \(busiest.labels[0]): \(value("%util")) util, \(rate("r/s")), \(rate("w/s")), "
                    + "r_await \(value("r_await")), w_await \(value("w_await"))"
            ])
    }
}
