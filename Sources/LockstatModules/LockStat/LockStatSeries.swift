import LockstatCore

/// The lock_stat entry of samples.pickle, built one snapshot at a time: per class and side,
/// per column, the cumulative value the kernel printed at each sample (NaN = None for the
/// overflow marker; 0 before a class first appears).
struct LockStatSeries {
    var version: String?
    var columns: [String] = []
    var times: [Double] = []
    var badLines = 0
    private var order: [String] = []
    private var indexOf: [String: Int] = [:]
    /// By class index (order of first appearance), then column, then sample.
    private var write: [[[Double]]] = []
    private var read: [[[Double]]] = []
    private var last = LockStatSnapshot("")

    mutating func add(_ snapshot: LockStatSnapshot, time: Double) {
        if columns.isEmpty { columns = snapshot.columns }
        if version == nil { version = snapshot.version }
        badLines += snapshot.badLines
        let sample = times.count
        times.append(time)
        let zeros = [[Double]](repeating: [Double](repeating: 0, count: sample), count: columns.count)
        for name in snapshot.order where indexOf[name] == nil {
            indexOf[name] = order.count
            order.append(name)
            write.append(zeros)
            read.append(zeros)
        }
        // Columns by name: a later snapshot with another layout still lands in the right column.
        let index = columns.map { c in snapshot.columns.firstIndex(of: c) }
        func append(_ side: [Double?]?, to columnsOfClass: inout [[Double]]) {
            for k in columnsOfClass.indices {
                // Absent (not yet appeared, or that side never printed): 0; overflow: NaN (None).
                columnsOfClass[k].append(side.map { side in index[k].flatMap { side[$0] } ?? .nan } ?? 0)
            }
        }
        for (c, name) in order.enumerated() {
            let cls = snapshot.classes[name]
            append(cls?.write, to: &write[c])
            append(cls?.read, to: &read[c])
        }
        last = snapshot
    }

    /// A column's series, write and read sides summed (the kernel sorts by that sum too).
    func total(_ name: String, _ column: String) -> [Double] {
        guard let k = columns.firstIndex(of: column), let c = indexOf[name] else { return [] }
        return zip(write[c][k], read[c][k]).map { ($0.isNaN ? 0 : $0) + ($1.isNaN ? 0 : $1) }
    }

    /// Whether presampling cleared the statistics: then the run's totals are the last sample's
    /// values; otherwise what they gained since the first sample.
    var cleared = true

    /// What a cumulative column gained over the run.
    func gained(_ name: String, _ column: String) -> Double {
        let t = total(name, column)
        guard let first = t.first, let lastValue = t.last else { return 0 }
        return max(0, lastValue - (cleared ? 0 : first))
    }

    /// Per interval: Δ/Δt with measured Δt; a counter going backwards (a clear) gives 0.
    func rate(_ name: String, _ column: String) -> [Double] {
        let t = total(name, column)
        return t.indices.map { i in
            guard i > 0, times[i] > times[i - 1] else { return .nan }
            return max(0, t[i] - t[i - 1]) / (times[i] - times[i - 1])
        }
    }

    /// Classes by wait time gained over the run, most first; ties by contentions, then name.
    var ranking: [String] {
        order.map { ($0, gained($0, "waittime-total"), gained($0, "contentions")) }
            .sorted { ($0.1, $0.2, $1.0) > ($1.1, $1.2, $0.0) }
            .map(\.0)
    }

    func model(top: Int) -> LockStatModel {
        let classes = order.enumerated().map { c, name in
            LockStatModel.Class(
                name: name, write: write[c], read: read[c],
                contentionPoints: last.classes[name]?.contentionPoints ?? [],
                contendingPoints: last.classes[name]?.contendingPoints ?? [])
        }
        let ranked = ranking.enumerated().map { rank, name in
            LockStatModel.Ranked(
                name: name, contentions: gained(name, "contentions"), waitTotal: gained(name, "waittime-total"),
                acquisitions: gained(name, "acquisitions"), holdTotal: gained(name, "holdtime-total"),
                rates: rank < top
                    ? .init(
                        contentions: rate(name, "contentions"), waitMicroseconds: rate(name, "waittime-total"),
                        acquisitions: rate(name, "acquisitions")) : nil)
        }
        return LockStatModel(
            version: version, columns: columns, time: times, classes: classes, ranked: ranked, badLines: badLines)
    }
}
