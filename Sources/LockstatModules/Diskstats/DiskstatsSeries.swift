import LockstatCore

/// Turns a series of /proc/diskstats snapshots into per-device iostat columns, in one pass.
/// Lines are scanned byte by byte straight into counters; device names are interned by
/// comparing bytes with the device printed at the same line position last time (the kernel
/// keeps its order), so steady state makes no Strings. Each device's columns are one buffer
/// allocated at the series' final length (NaN = None).
struct DiskstatsSeries {
    static let maxCounters = 24
    private(set) var names: [String] = []
    private var nameBytes: [[UInt8]] = []
    private var indexByName: [String: Int] = [:]
    private var order: [Int] = []
    private var previous: [DiskCounters?] = []
    private var current: [DiskCounters?] = []
    /// Each device's last whole line, for a device missing from the previous snapshot.
    private var lastSeen: [DiskCounters?] = []
    /// device → (iostat columns, then in_flight) × samples, column-major.
    private var storage: [[Double]] = []
    private(set) var times: [Double] = []
    private(set) var badLines = 0
    /// Lines with the 4-counter layout only ever belong to partitions (2.6.0–2.6.24).
    private(set) var shortLayout: Set<String> = []
    private let capacity: Int
    static let stride = IostatMetrics.columns.count + 1

    init(expectedSamples: Int) {
        capacity = max(1, expectedSamples)
        times.reserveCapacity(capacity)
    }

    mutating func add(_ text: ProcText, time: Double) {
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: Self.maxCounters) { add(text, time: time, fields: $0.baseAddress!) }
    }

    private mutating func add(_ text: ProcText, time: Double, fields: UnsafeMutablePointer<UInt64>) {
        let sample = times.count
        precondition(sample < capacity, "more snapshots than announced")
        let seconds = sample > 0 ? time - times[sample - 1] : 0
        times.append(time)
        swap(&previous, &current)
        for i in current.indices { current[i] = nil }
        let b = text.bytes
        var i = 0, position = 0
        while i < b.count {
            var token = 0, count = 0, numeric = true
            var major = true, minor = true
            var name = 0..<0
            while i < b.count && b[i] != 0x0A {
                if b[i] == 0x20 || b[i] == 0x09 { i += 1; continue }
                let start = i
                var value: UInt64 = 0, isNumber = true
                while i < b.count, b[i] != 0x20, b[i] != 0x0A, b[i] != 0x09 {
                    let d = b[i] &- 0x30
                    if d < 10 { value = value &* 10 &+ UInt64(d) } else { isNumber = false }
                    i += 1
                }
                switch token {
                case 0: major = isNumber
                case 1: minor = isNumber
                case 2: name = start..<i
                default:
                    numeric = numeric && isNumber && i - start <= 19
                    if count < Self.maxCounters { fields[count] = value }
                    count += 1
                }
                token += 1
            }
            let complete = i < b.count
            i += 1
            if token == 0 { continue }
            guard complete, major, minor, numeric, token >= 7,
                  let counters = DiskCounters(fields, count: count) else { badLines += 1; continue }
            let device = intern(text, name, position: position, sample: sample)
            if counters.counters == 4 { shortLayout.insert(names[device]) }
            current[device] = counters
            position += 1
        }
        for device in names.indices {
            storage[device].withUnsafeMutableBufferPointer { column in
                let base = column.baseAddress! + sample
                // A device first seen after the first sample counts from zero (iostat zeroes a
                // new device's previous stats), and so does one removed and added again
                // (iostat.c write_stats' restart check); one missing from the previous
                // snapshot only (a garbled line) counts from its last whole line.
                if let c = current[device], seconds > 0 {
                    let p = (previous[device] ?? lastSeen[device]).flatMap { c.restarted(since: $0) ? nil : $0 } ?? .zero(like: c)
                    IostatMetrics.compute(p, c, seconds: seconds, into: base, stride: capacity)
                }
                if let c = current[device] { lastSeen[device] = c }
                if let c = current[device], c.hasMergesAndTimes {
                    base[IostatMetrics.columns.count * capacity] = Double(c.inFlight)
                }
            }
        }
    }

    private mutating func intern(_ text: ProcText, _ token: Range<Int>, position: Int, sample: Int) -> Int {
        if position < order.count {
            let candidate = order[position]
            if nameBytes[candidate].elementsEqual(UnsafeRawBufferPointer(rebasing: text.bytes[token])) { return candidate }
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
        // NaN until it appears and wherever a value is missing.
        storage.append([Double](repeating: .nan, count: Self.stride * capacity))
        return names.count - 1
    }

    /// The samples so far of one column (0..<IostatMetrics.columns.count, then in_flight).
    func column(_ device: Int, _ k: Int) -> ArraySlice<Double> {
        storage[device][(k * capacity)..<(k * capacity + times.count)]
    }
}
