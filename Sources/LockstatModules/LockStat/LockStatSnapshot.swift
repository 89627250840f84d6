/// One /proc/lock_stat snapshot (the kernel's Documentation/locking/lockstat.rst, kernel/locking/lockdep_proc.c).
///
/// Versions 0.2 (10 columns, contention points only), 0.3 (adds contending points) and 0.4
/// (adds waittime-avg and holdtime-avg). Columns are taken from the header line by name; with
/// no header, from the count of numbers (10 or 12) when that is unambiguous.
struct LockStatSnapshot {
    var version: String?
    /// Column names as the header prints them, e.g. "con-bounces", "waittime-min".
    var columns: [String] = []
    /// By class name without -W/-R.
    var classes: [String: LockClass] = [:]
    /// Classes in the order the kernel printed them (by total contentions).
    var order: [String] = []
    /// Lines that fit nothing: counted, never glued onto a neighbouring class.
    var badLines = 0
    /// Class lines combined with an earlier class of the same name and side.
    var combinedLines = 0

    static let columns02 = [
        "con-bounces", "contentions", "waittime-min", "waittime-max", "waittime-total",
        "acq-bounces", "acquisitions", "holdtime-min", "holdtime-max", "holdtime-total",
    ]
    static let columns04 = [
        "con-bounces", "contentions", "waittime-min", "waittime-max", "waittime-total", "waittime-avg",
        "acq-bounces", "acquisitions", "holdtime-min", "holdtime-max", "holdtime-total", "holdtime-avg",
    ]

    init(_ text: String) {
        var parser = LockStatParser()
        var lines = text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).map {
            Substring($0)
        }
        if let last = lines.popLast(), !last.isEmpty {
            // A snapshot cut in the middle of its last line: that line cannot be trusted.
            badLines += 1
        }
        for line in lines { parser.read(line, into: &self) }
    }
}

/// A lock class: its write side (a bare name or -W), its read side (-R), and the call sites
/// printed under it. Values are as the kernel printed them: counts, and times in µs; nil is the
/// overflow marker (unknown).
struct LockClass {
    var write: [Double?]?
    var read: [Double?]?
    /// Where waiters waited (the first block under a class).
    var contentionPoints: [CallSite] = []
    /// Where the holder took the lock (the second block, 0.3+).
    var contendingPoints: [CallSite] = []
}

struct CallSite: Equatable {
    var count: Double
    var address: String
    var symbol: String
}
