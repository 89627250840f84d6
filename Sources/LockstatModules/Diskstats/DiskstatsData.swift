import LockstatCore

/// The diskstats entry of samples.pickle: `time`, `devices` → {name → {iostat column → series}},
/// `whole_disks`, and `total`: the rates summed over whole disks (partitions not counted twice).
struct DiskstatsData {
    let series: DiskstatsSeries
    let wholeDisks: [String]
    static let totalColumns = ["r/s", "rkB/s", "w/s", "wkB/s", "d/s", "dkB/s", "f/s"]

    var pyValue: PyValue {
        let devices = series.names.indices.map { d -> (String, PyValue) in
            var cols = zip(IostatMetrics.columns, series.columns[d]).map { ($0, PyValue.series($1)) }
            cols.append(("in_flight", .series(series.inFlightSeries(d))))
            return (series.names[d], .stringDict(cols))
        }
        return .stringDict([
            ("time", .series(series.times)),
            ("devices", .stringDict(devices)),
            ("whole_disks", .strings(wholeDisks)),
            ("total", .stringDict(Self.totalColumns.map { ($0, .series(total($0))) })),
            ("bad_lines", .int(Int64(series.badLines))),
        ])
    }

    func total(_ column: String) -> [Double?] {
        let k = IostatMetrics.columns.firstIndex(of: column)!
        let disks = wholeDisks.compactMap { series.names.firstIndex(of: $0) }
        return series.times.indices.map { i in
            let values = disks.compactMap { series.columns[$0][k][i] }
            return values.isEmpty ? nil : values.reduce(0, +)
        }
    }
}
