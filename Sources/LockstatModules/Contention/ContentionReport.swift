import LockstatCore

/// `lockstat report DIR` for the contention module: perf lock contention's table, by caller,
/// lock or task, sorted by any of its keys.
public enum ContentionReport {
    public static let sortKeys = ["wait_total", "contended", "wait_max", "wait_min", "avg_wait"]
    public static let groupings = ["caller": "callers", "lock": "locks", "task": "tasks"]

    public static func render(_ data: PyValue, by: String, sort: String, top: Int) throws -> String {
        guard let list = groupings[by] else { throw LockstatError.usage("--by: one of caller, lock, task (got '\(by)')") }
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
        return ContentionAnalysis.table(Array(rows), keyTitle: by)
    }
}
