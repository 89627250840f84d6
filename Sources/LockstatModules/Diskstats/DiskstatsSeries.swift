import LockstatCore

/// Turns a series of /proc/diskstats snapshots into per-device iostat columns, in one pass.
/// Lines are tokenized by ProcText straight into counters; device names are interned by
/// comparing bytes with the device printed at the same line position last time (the kernel
/// keeps its order), so steady state makes no Strings. Each device's iostat columns are
/// `Column`s (NaN = None), so a long run's stay in bounded memory.
struct DiskstatsSeries {
    private(set) var names: [String] = []
    private var nameBytes: [[UInt8]] = []
    private var indexByName: [String: Int] = [:]
    private var order: [Int] = []
    private var previous: [DiskCounters?] = []
    private var current: [DiskCounters?] = []
    /// Each device's last whole line, for a device missing from the previous snapshot.
    private var lastSeen: [DiskCounters?] = []
    /// Each device's counters where the run's totals start: its line in the first snapshot, or
    /// zero for a device that appeared later (iostat zeroes a new device's previous stats).
    private var firstSeen: [DiskCounters?] = []
    /// device → iostat columns, then in_flight.
    private var storage: [[Column]] = []
    /// One sample of a device's columns, reused.
    private var row = [Double](repeating: .nan, count: DiskstatsSeries.stride)
    private(set) var times = Column()
    private(set) var badLines = 0
    /// Lines with the 4-counter layout only ever belong to partitions (2.6.0–2.6.24).
    private(set) var shortLayout: Set<String> = []
    static let stride = IostatMetrics.columns.count + 1

    init() {}

    mutating func add(_ text: ProcText, time: Double) {
        let sample = times.count
        let seconds = sample > 0 ? time - times[sample - 1] : 0
        times.append(time)
        swap(&previous, &current)
        for i in current.indices { current[i] = nil }
        var position = 0
        DiskstatsLines.forEach(text) { line in
            guard let (name, counters) = line else {
                badLines += 1
                return
            }
            let device = intern(text, name, position: position, sample: sample)
            if counters.counters == 4 { shortLayout.insert(names[device]) }
            current[device] = counters
            position += 1
        }
        for device in names.indices {
            row.withUnsafeMutableBufferPointer { row in
                let base = row.baseAddress!
                row.initialize(repeating: .nan)
                // A device first seen after the first sample counts from zero (iostat zeroes a
                // new device's previous stats), and so does one removed and added again
                // (iostat.c write_stats' restart check); one missing from the previous
                // snapshot only (a garbled line) counts from its last whole line.
                if let c = current[device], seconds > 0 {
                    let p =
                        (previous[device] ?? lastSeen[device]).flatMap { c.restarted(since: $0) ? nil : $0 }
                        ?? .zero(like: c)
                    IostatMetrics.compute(p, c, seconds: seconds, into: base, stride: 1)
                }
                if let c = current[device] {
                    if firstSeen[device] == nil { firstSeen[device] = sample == 0 ? c : .zero(like: c) }
                    lastSeen[device] = c
                }
                if let c = current[device], c.hasMergesAndTimes {
                    base[IostatMetrics.columns.count] = Double(c.inFlight)
                }
            }
            for k in row.indices { storage[device][k].append(row[k]) }
        }
    }

    private mutating func intern(_ text: ProcText, _ token: Range<Int>, position: Int, sample: Int) -> Int {
        if position < order.count {
            let candidate = order[position]
            if nameBytes[candidate].elementsEqual(UnsafeRawBufferPointer(rebasing: text.bytes[token])) {
                return candidate
            }
        }
        let name = text.string(token)
        let device = indexByName[name] ?? newDevice(name)
        if position < order.count { order[position] = device } else { order.append(device) }
        return device
    }

    private mutating func newDevice(_ name: String) -> Int {
        names.append(name)
        nameBytes.append(Array(name.utf8))
        indexByName[name] = names.count - 1
        previous.append(nil)
        current.append(nil)
        lastSeen.append(nil)
        firstSeen.append(nil)
        // NaN until it appears and wherever a value is missing.
        storage.append([Column](repeating: Column(repeating: .nan, count: times.count - 1), count: Self.stride))
        return names.count - 1
    }

    /// Every iostat column of a device over the whole run (iostat's formulas between its first
    /// and last counters, over the time between the first and last samples); nil for a device
    /// with no I/O in the run.
    func overRun(_ device: Int) -> [Double]? {
        guard var p = firstSeen[device], let c = lastSeen[device], let first = times.first, let last = times.last,
            last > first
        else { return nil }
        // Removed and added again during the run: its counters started over.
        if c.restarted(since: p) { p = .zero(like: c) }
        var out = [Double](repeating: .nan, count: IostatMetrics.columns.count)
        out.withUnsafeMutableBufferPointer {
            IostatMetrics.compute(p, c, seconds: last - first, into: $0.baseAddress!, stride: 1)
        }
        let busy = ["r/s", "w/s", "d/s", "f/s", "%util"].compactMap { IostatMetrics.columns.firstIndex(of: $0) }
            .contains { out[$0] > 0 }
        return busy ? out : nil
    }

    /// The samples so far of one column (0..<IostatMetrics.columns.count, then in_flight).
    func column(_ device: Int, _ k: Int) -> Column { storage[device][k] }
}
