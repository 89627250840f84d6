/// One /proc/diskstats line's counters (the kernel's Documentation/admin-guide/iostats.rst,
/// block/genhd.c diskstats_show). Sectors are always 512 bytes; times are ms.
struct DiskCounters {
    /// How many counters the line had: 4 (2.6.0–2.6.24 partitions), 11 (2.6.25+), 15 (4.18+,
    /// discards), 17 (5.5+, flushes). Kernels add fields at the end, so any line with 11 or more
    /// is read by position and what lies past the 17th is ignored, as iostat.c
    /// `read_diskstats_stat_work` reads it (its sscanf takes up to 17, then 15, then 11).
    var counters = 0
    var rdIos: UInt64 = 0, rdMerges: UInt64 = 0, rdSectors: UInt64 = 0, rdTicks: UInt64 = 0
    var wrIos: UInt64 = 0, wrMerges: UInt64 = 0, wrSectors: UInt64 = 0, wrTicks: UInt64 = 0
    var inFlight: UInt64 = 0, totTicks: UInt64 = 0, rqTicks: UInt64 = 0
    var dcIos: UInt64 = 0, dcMerges: UInt64 = 0, dcSectors: UInt64 = 0, dcTicks: UInt64 = 0
    var flIos: UInt64 = 0, flTicks: UInt64 = 0

    var hasMergesAndTimes: Bool { counters >= 11 }
    var hasDiscards: Bool { counters >= 15 }
    var hasFlushes: Bool { counters >= 17 }

    /// From the counters after major, minor and name; nil for a count no kernel prints.
    init?(_ v: UnsafePointer<UInt64>, count: Int) {
        counters = count
        switch count {
        case 4:
            // 2.6.0–2.6.24 partitions: reads issued, sectors read, writes issued, sectors written.
            (rdIos, rdSectors, wrIos, wrSectors) = (v[0], v[1], v[2], v[3])
        case 11...:
            (rdIos, rdMerges, rdSectors, rdTicks) = (v[0], v[1], v[2], v[3])
            (wrIos, wrMerges, wrSectors, wrTicks) = (v[4], v[5], v[6], v[7])
            (inFlight, totTicks, rqTicks) = (v[8], v[9], v[10])
            if count >= 15 { (dcIos, dcMerges, dcSectors, dcTicks) = (v[11], v[12], v[13], v[14]) }
            if count >= 17 { (flIos, flTicks) = (v[15], v[16]) }
        default:
            return nil
        }
    }

    /// A device's counters at zero, in `layout`'s columns: the previous sample of a device that
    /// was just added, or removed and added again (iostat counts it from zero).
    static func zero(like layout: DiskCounters) -> DiskCounters {
        var z = layout
        z.rdIos = 0
        z.rdMerges = 0
        z.rdSectors = 0
        z.rdTicks = 0
        z.wrIos = 0
        z.wrMerges = 0
        z.wrSectors = 0
        z.wrTicks = 0
        z.inFlight = 0
        z.totTicks = 0
        z.rqTicks = 0
        z.dcIos = 0
        z.dcMerges = 0
        z.dcSectors = 0
        z.dcTicks = 0
        z.flIos = 0
        z.flTicks = 0
        return z
    }

    /// iostat.c `write_stats`: fewer I/Os in all than before, and every sector count that was
    /// not 0 lower too, means the device was removed and added again between the two samples.
    func restarted(since p: DiskCounters) -> Bool {
        rdIos &+ wrIos &+ dcIos &+ flIos < p.rdIos &+ p.wrIos &+ p.dcIos &+ p.flIos
            && (p.rdSectors == 0 || rdSectors < p.rdSectors)
            && (p.wrSectors == 0 || wrSectors < p.wrSectors)
            && (p.dcSectors == 0 || dcSectors < p.dcSectors)
    }
}
