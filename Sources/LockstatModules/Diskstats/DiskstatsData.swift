import LockstatCore

/// The diskstats entry of samples.pickle: `time`, `devices` → {name → {iostat column → series}},
/// `whole_disks`, and `total`: the rates summed over whole disks (partitions not counted twice).
struct DiskstatsData {
    let series: DiskstatsSeries
    let wholeDisks: [String]
    static let totalColumns = ["r/s", "rkB/s", "w/s", "wkB/s", "d/s", "dkB/s", "f/s"]

    var pyValue: PyValue {
        let devices = series.names.indices.map { d -> (String, PyValue) in
            let names = IostatMetrics.columns + ["in_flight"]
            return (series.names[d], .stringDict(names.indices.map { (names[$0], PyValue.floats(series.column(d, $0))) }))
        }
        return .stringDict([
            ("time", .series(series.times)),
            ("devices", .stringDict(devices)),
            ("whole_disks", .strings(wholeDisks)),
            ("total", .stringDict(Self.totalColumns.map { ($0, .series(total($0))) })),
            ("bad_lines", .int(Int64(series.badLines))),
        ])
    }

    /// The sum over whole disks of one rate; NaN (None) where no whole disk has a value.
    func total(_ column: String) -> [Double] {
        let k = IostatMetrics.columns.firstIndex(of: column)!
        var sum = [Double](repeating: .nan, count: series.times.count)
        // A name → index table, not a search per disk: 100,000 devices stay linear.
        let index = Dictionary(series.names.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        for d in wholeDisks.compactMap({ index[$0] }) {
            for (i, v) in series.column(d, k).enumerated() where !v.isNaN {
                sum[i] = sum[i].isNaN ? v : sum[i] + v
            }
        }
        return sum
    }
}
