/// One /proc/diskstats line's counters (FORMATS.md "/proc/diskstats", kernel iostats.rst).
/// Sectors are always 512 bytes; times are ms.
struct DiskCounters {
    /// Which columns the line had: 4 counters (2.6.0–2.6.24 partitions), 11 (2.6.25+),
    /// 15 (4.18+, discards), 17 (5.5+, flushes).
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
        case 11, 15, 17:
            (rdIos, rdMerges, rdSectors, rdTicks) = (v[0], v[1], v[2], v[3])
            (wrIos, wrMerges, wrSectors, wrTicks) = (v[4], v[5], v[6], v[7])
            (inFlight, totTicks, rqTicks) = (v[8], v[9], v[10])
            if count >= 15 { (dcIos, dcMerges, dcSectors, dcTicks) = (v[11], v[12], v[13], v[14]) }
            if count == 17 { (flIos, flTicks) = (v[15], v[16]) }
        default:
            return nil
        }
    }
}
