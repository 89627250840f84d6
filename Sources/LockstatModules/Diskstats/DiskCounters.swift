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

    static let layouts: Set<Int> = [4, 11, 15, 17]

    var hasMergesAndTimes: Bool { counters >= 11 }
    var hasDiscards: Bool { counters >= 15 }
    var hasFlushes: Bool { counters >= 17 }

    /// Fills from the counter tokens of a line (after major, minor, name); false when the
    /// count is no known layout or a token is not a number.
    mutating func read(_ text: ProcText, _ tokens: ArraySlice<Range<Int>>) -> Bool {
        counters = tokens.count
        guard Self.layouts.contains(counters) else { return false }
        var values = (UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        for (k, r) in tokens.enumerated() {
            guard let v = text.unsigned(r) else { return false }
            if counters == 4 {
                // reads issued, sectors read, writes issued, sectors written
                switch k {
                case 0: values.0 = v
                case 1: values.1 = v
                case 2: values.2 = v
                default: values.3 = v
                }
                continue
            }
            switch k {
            case 0: rdIos = v
            case 1: rdMerges = v
            case 2: rdSectors = v
            case 3: rdTicks = v
            case 4: wrIos = v
            case 5: wrMerges = v
            case 6: wrSectors = v
            case 7: wrTicks = v
            case 8: inFlight = v
            case 9: totTicks = v
            case 10: rqTicks = v
            case 11: dcIos = v
            case 12: dcMerges = v
            case 13: dcSectors = v
            case 14: dcTicks = v
            case 15: flIos = v
            default: flTicks = v
            }
        }
        if counters == 4 { (rdIos, rdSectors, wrIos, wrSectors) = values }
        return true
    }
}
