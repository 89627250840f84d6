import LockstatCore

/// The one parser of /proc/diskstats lines (kernel Documentation/admin-guide/iostats.rst):
/// `major minor name` then the counters, 4 (2.6.0–2.6.24 partitions) up to 20 of them. The run's
/// series and serve's totals both read snapshots through it.
enum DiskstatsLines {
    /// More counters than any kernel prints; a line with more is still read, the rest checked.
    static let maxCounters = 24

    /// Each line of `text`, in order: its device name's bytes and its counters, or nil for a
    /// malformed line (cut short, a field that is no number, a count of counters no kernel prints).
    static func forEach(_ text: ProcText, _ body: (_ line: (name: Range<Int>, counters: DiskCounters)?) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: maxCounters) { buffer in
            let fields = buffer.baseAddress!
            text.forEachLine { line in
                let tokens = line.tokens
                // major minor name, then at least 4 counters (the 2.6 partition layout).
                guard line.complete, tokens.count >= 7, text.unsigned(tokens[0]) != nil,
                    text.unsigned(tokens[1]) != nil
                else { return body(nil) }
                let count = tokens.count - 3
                for k in 0..<min(count, maxCounters) {
                    guard let v = text.unsigned(tokens[k + 3]) else { return body(nil) }
                    fields[k] = v
                }
                guard count <= maxCounters || tokens[(3 + maxCounters)...].allSatisfy({ text.unsigned($0) != nil }),
                    let counters = DiskCounters(fields, count: count)
                else { return body(nil) }
                body((tokens[2], counters))
            }
        }
    }
}
