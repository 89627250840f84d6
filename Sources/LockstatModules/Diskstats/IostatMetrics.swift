/// Every `iostat -x` column, with sysstat's exact formulas (iostat.c write_ext_stat,
/// rd_stats.c compute_ext_disk_stats), over one interval of `seconds`
/// measured. Columns the line's layout does not have are NaN (None in samples.pickle).
enum IostatMetrics {
    static let columns = [
        "r/s", "rkB/s", "rrqm/s", "%rrqm", "r_await", "rareq-sz",
        "w/s", "wkB/s", "wrqm/s", "%wrqm", "w_await", "wareq-sz",
        "d/s", "dkB/s", "drqm/s", "%drqm", "d_await", "dareq-sz",
        "f/s", "f_await", "aqu-sz", "%util",
    ]

    /// Writes the interval's values in `columns` order to out[0], out[stride], out[2 × stride]...
    static func compute(
        _ p: DiskCounters, _ c: DiskCounters, seconds: Double, into out: UnsafeMutablePointer<Double>, stride: Int
    ) {
        var k = 0
        func put(_ v: Double) {
            out[k * stride] = v
            k += 1
        }
        let full = p.hasMergesAndTimes && c.hasMergesAndTimes
        let none = Double.nan
        // x/s, xkB/s, xrqm/s, %xrqm, x_await, xareq-sz for one direction (read, write or discard).
        func direction(ios: Double, merges: Double, sectors: Double, ticks: Double) {
            put(ios / seconds)
            put(sectors / seconds / 2)  // 512-byte sectors → kB
            put(merges / seconds)
            put(merges + ios > 0 ? merges / (merges + ios) * 100 : (merges.isNaN ? none : 0))
            put(ios > 0 ? ticks / ios : (ticks.isNaN ? none : 0))
            put(ios > 0 ? sectors / ios / 2 : 0)
        }
        direction(
            ios: delta(c.rdIos, p.rdIos), merges: full ? delta(c.rdMerges, p.rdMerges) : none,
            sectors: delta(c.rdSectors, p.rdSectors), ticks: full ? delta(c.rdTicks, p.rdTicks) : none)
        direction(
            ios: delta(c.wrIos, p.wrIos), merges: full ? delta(c.wrMerges, p.wrMerges) : none,
            sectors: delta(c.wrSectors, p.wrSectors), ticks: full ? delta(c.wrTicks, p.wrTicks) : none)
        if p.hasDiscards && c.hasDiscards {
            direction(
                ios: delta(c.dcIos, p.dcIos), merges: delta(c.dcMerges, p.dcMerges),
                sectors: delta(c.dcSectors, p.dcSectors), ticks: delta(c.dcTicks, p.dcTicks))
        } else {
            for _ in 0..<6 { put(none) }
        }
        if p.hasFlushes && c.hasFlushes {
            let ios = delta(c.flIos, p.flIos)
            put(ios / seconds)
            put(ios > 0 ? delta(c.flTicks, p.flTicks) / ios : 0)
        } else {
            put(none)
            put(none)
        }
        if full {
            let ms = seconds * 1000
            put(delta(c.rqTicks, p.rqTicks) / ms)
            // rd_stats.c compute_ext_disk_stats: not capped (sysstat master and 12.6 alike), so a
            // counter that ran ahead of the measured interval shows above 100.
            put(delta(c.totTicks, p.totTicks) / ms * 100)
        } else {
            put(none)
            put(none)
        }
    }
}
