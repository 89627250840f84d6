import LockstatCore

extension StatModel {
    /// One line of mpstat over the whole run (the page's `cpus` table): the busiest CPU, and
    /// `all`'s user, system and iowait time.
    public func summary(width: Int) -> SummaryPart? {
        let table = results.tables[0]
        // A run shorter than one interval has one snapshot and no rates: say so rather than nothing.
        guard let all = table.rows.first(where: { $0.labels[0] == "all" }) else {
            return SummaryPart(.overview, ["CPU: no figures: the run ended before a second sample"])
        }
        let busy = table.metric("busy")!
        let busiest = table.rows.filter { $0.labels[0] != "all" && !$0.values[busy].isNaN }
            .max { $0.values[busy] < $1.values[busy] }
        func value(_ row: ResultRow, _ name: String) -> String {
            TerminalSummary.value(row.values[table.metric(name)!], table.metrics[table.metric(name)!])
        }
        var line = "CPU: "
        if let busiest { line += "busiest \(busiest.labels[0]) \(value(busiest, "busy")) busy; " }
        line += "all \(value(all, "usr")) usr, \(value(all, "sys")) sys, \(value(all, "iowait")) iowait"
        return SummaryPart(.overview, [line])
    }
}
