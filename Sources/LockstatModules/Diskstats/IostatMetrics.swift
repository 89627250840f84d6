/// Every `iostat -x` column, with sysstat's exact formulas (iostat.c write_ext_stat,
/// rd_stats.c compute_ext_disk_stats; PEERS.md section 5), over one interval of `seconds`
/// measured. Columns the line's layout does not have are nil.
enum IostatMetrics {
    static let columns = [
        "r/s", "rkB/s", "rrqm/s", "%rrqm", "r_await", "rareq-sz",
        "w/s", "wkB/s", "wrqm/s", "%wrqm", "w_await", "wareq-sz",
        "d/s", "dkB/s", "drqm/s", "%drqm", "d_await", "dareq-sz",
        "f/s", "f_await", "aqu-sz", "%util",
    ]
    /// Units, for the README and the graphs.
    static let units = [
        "r/s": "requests/s", "rkB/s": "kB/s", "rrqm/s": "merges/s", "%rrqm": "%", "r_await": "ms", "rareq-sz": "kB",
        "f/s": "requests/s", "f_await": "ms", "aqu-sz": "requests", "%util": "%",
    ]

    /// Appends the interval's values, in `columns` order, to `out`.
    static func compute(_ p: DiskCounters, _ c: DiskCounters, seconds: Double, into out: inout [Double?]) {
        let full = p.hasMergesAndTimes && c.hasMergesAndTimes
        direction(ios: delta(c.rdIos, p.rdIos), merges: full ? delta(c.rdMerges, p.rdMerges) : nil,
                  sectors: delta(c.rdSectors, p.rdSectors), ticks: full ? delta(c.rdTicks, p.rdTicks) : nil,
                  seconds: seconds, into: &out)
        direction(ios: delta(c.wrIos, p.wrIos), merges: full ? delta(c.wrMerges, p.wrMerges) : nil,
                  sectors: delta(c.wrSectors, p.wrSectors), ticks: full ? delta(c.wrTicks, p.wrTicks) : nil,
                  seconds: seconds, into: &out)
        if p.hasDiscards && c.hasDiscards {
            direction(ios: delta(c.dcIos, p.dcIos), merges: delta(c.dcMerges, p.dcMerges),
                      sectors: delta(c.dcSectors, p.dcSectors), ticks: delta(c.dcTicks, p.dcTicks),
                      seconds: seconds, into: &out)
        } else {
            for _ in 0..<6 { out.append(nil) }
        }
        if p.hasFlushes && c.hasFlushes {
            let ios = delta(c.flIos, p.flIos)
            out.append(ios / seconds)
            out.append(ios > 0 ? delta(c.flTicks, p.flTicks) / ios : 0)
        } else {
            out.append(nil); out.append(nil)
        }
        if full {
            let ms = seconds * 1000
            out.append(delta(c.rqTicks, p.rqTicks) / ms)
            // %util saturates at 100 even on devices that serve requests in parallel (NVMe, RAID).
            out.append(min(100, delta(c.totTicks, p.totTicks) / ms * 100))
        } else {
            out.append(nil); out.append(nil)
        }
    }

    /// x/s, xkB/s, xrqm/s, %xrqm, x_await, xareq-sz for one direction (read, write or discard).
    @inline(__always)
    static func direction(ios: Double, merges: Double?, sectors: Double, ticks: Double?, seconds: Double, into out: inout [Double?]) {
        out.append(ios / seconds)
        out.append(sectors / seconds / 2)                     // 512-byte sectors → kB
        out.append(merges.map { $0 / seconds })
        out.append(merges.map { $0 + ios > 0 ? $0 / ($0 + ios) * 100 : 0 })
        out.append(ticks.map { ios > 0 ? $0 / ios : 0 })
        out.append(ios > 0 ? sectors / ios / 2 : 0)
    }
}
