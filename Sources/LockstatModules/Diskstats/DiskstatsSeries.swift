import LockstatCore

/// Turns a series of /proc/diskstats snapshots into per-device iostat columns, in one pass.
/// Device names are interned by comparing bytes with the device printed at the same line
/// position last time (the kernel keeps its order), so steady state makes no Strings.
struct DiskstatsSeries {
    private(set) var names: [String] = []
    private var nameBytes: [[UInt8]] = []
    private var indexByName: [String: Int] = [:]
    private var order: [Int] = []
    private var previous: [DiskCounters?] = []
    private var current: [DiskCounters?] = []
    private var inFlight: [[Double?]] = []
    /// device → iostat column → series.
    private(set) var columns: [[[Double?]]] = []
    private(set) var times: [Double] = []
    private(set) var badLines = 0
    /// 7-field lines only ever belong to partitions (2.6.0–2.6.24).
    private(set) var shortLayout: Set<String> = []
    private var scratch: [Double?] = []

    mutating func add(_ text: ProcText, time: Double) {
        let sample = times.count
        let seconds = sample > 0 ? time - times[sample - 1] : 0
        times.append(time)
        swap(&previous, &current)
        for i in current.indices { current[i] = nil }
        var position = 0
        text.forEachLine { line in
            let t = line.tokens
            guard line.complete, t.count >= 7, text.unsigned(t[0]) != nil, text.unsigned(t[1]) != nil else { badLines += 1; return }
            var counters = DiskCounters()
            guard counters.read(text, t[3...]) else { badLines += 1; return }
            let device = intern(text, t[2], position: position, sample: sample)
            if counters.counters == 4 { shortLayout.insert(names[device]) }
            current[device] = counters
            position += 1
        }
        for device in names.indices {
            inFlight[device].append(current[device].flatMap { $0.hasMergesAndTimes ? Double($0.inFlight) : nil })
            scratch.removeAll(keepingCapacity: true)
            if let p = previous[device], let c = current[device], seconds > 0 {
                IostatMetrics.compute(p, c, seconds: seconds, into: &scratch)
            } else {
                for _ in IostatMetrics.columns { scratch.append(nil) }
            }
            for k in scratch.indices { columns[device][k].append(scratch[k]) }
        }
    }

    private mutating func intern(_ text: ProcText, _ token: Range<Int>, position: Int, sample: Int) -> Int {
        if position < order.count {
            let candidate = order[position]
            if nameBytes[candidate].elementsEqual(UnsafeRawBufferPointer(rebasing: text.bytes[token])) { return candidate }
        }
        let name = text.string(token)
        let device = indexByName[name] ?? newDevice(name, sample: sample)
        if position < order.count { order[position] = device } else { order.append(device) }
        return device
    }

    private mutating func newDevice(_ name: String, sample: Int) -> Int {
        let device = names.count
        names.append(name)
        nameBytes.append(Array(name.utf8))
        indexByName[name] = device
        previous.append(nil)
        current.append(nil)
        // A device that appears mid-run has no values before it appeared.
        let gap = [Double?](repeating: nil, count: sample)
        inFlight.append(gap)
        columns.append([[Double?]](repeating: gap, count: IostatMetrics.columns.count))
        return device
    }

    func inFlightSeries(_ device: Int) -> [Double?] { inFlight[device] }
}
