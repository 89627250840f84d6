import LockstatCore

/// `lockstat report DIR` for the contention module: perf lock contention's table, by caller,
/// lock or task, sorted by any of its keys.
public enum ContentionReport {
    public static let sortKeys = ["wait_total", "contended", "wait_max", "wait_min", "avg_wait"]
    public static let groupings = ["caller": "callers", "lock": "locks", "task": "tasks", "owner": "owners"]

    public static func render(_ data: PyValue, by: String, sort: String, top: Int) throws -> String {
        guard let list = groupings[by] else { throw LockstatError.usage("--by: one of caller, lock, task, owner (got '\(by)')") }
        if by == "owner" { return owners(data, top: top) }
        guard let column = ["wait_total": "total_wait_ns", "contended": "contended", "wait_max": "max_wait_ns",
                            "wait_min": "min_wait_ns", "avg_wait": "avg_wait_ns"][sort] else {
            throw LockstatError.usage("--sort: for contention one of " + sortKeys.joined(separator: ", ") + " (got '\(sort)')")
        }
        let rows = (data[list]?.listItems ?? []).sorted { ($0[column]?.number ?? 0) > ($1[column]?.number ?? 0) }.prefix(top).map { r in
            var row = ContentionAnalysis.Row(key: r[by]?.string ?? "?", type: r["type"]?.string ?? "?")
            row.contended = Int(r["contended"]?.number ?? 0)
            row.total = UInt64(r["total_wait_ns"]?.number ?? 0)
            row.max = UInt64(r["max_wait_ns"]?.number ?? 0)
            row.min = UInt64(r["min_wait_ns"]?.number ?? 0)
            // The waits that ended in the run, as the stored average implies (total / avg).
            row.waited = Int(((r["total_wait_ns"]?.number ?? 0) / max(1, r["avg_wait_ns"]?.number ?? 1)).rounded())
            return row
        }
        return costLine(data) + ContentionAnalysis.table(Array(rows), keyTitle: by)
    }

    /// "contention (bpf): 617138 contentions, 0 lost" above the table, when the run has it.
    static func costLine(_ data: PyValue) -> String {
        guard let cost = data["cost"], let mode = cost["mode"]?.string else { return "" }
        var line = "contention (\(mode)): \(Int(cost["contentions"]?.number ?? 0)) contentions, \(Int(cost["lost"]?.number ?? 0)) lost"
        if let wall = cost["wall_ns"]?.number, wall > 0, let bpf = cost["bpf_ns"]?.number, let own = cost["lockstat_cpu_ns"]?.number {
            line += String(format: ", lockstat %.1f %% of one CPU, BPF %.2f s of CPU", own / wall * 100, bpf / 1e9)
        }
        return line + "\n\n"
    }

    /// Waits by the task that held the mutex or rwsem (bpf mode).
    static func owners(_ data: PyValue, top: Int) -> String {
        let rows = (data["owners"]?.listItems ?? []).prefix(top)
        func pad(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
        var lines = [pad("contended", 10) + " " + pad("total wait", 12) + "   owner   lock", ""]
        for r in rows {
            lines.append(pad(String(Int(r["contended"]?.number ?? 0)), 10) + " " +
                         pad(ContentionAnalysis.duration(UInt64(r["total_wait_ns"]?.number ?? 0)), 12) + "   " +
                         (r["owner"]?.string ?? "?") + "   " + (r["lock"]?.string ?? "?"))
        }
        if rows.isEmpty { lines.append("(no owners recorded: they are read in contention.mode bpf, for mutexes and rwsems)") }
        return costLine(data) + lines.joined(separator: "\n") + "\n"
    }
}
