import LockstatCore

/// The diskstats module's results: per device, every iostat -x column and in_flight, one value
/// per sample aligned with `time` (NaN: none); which devices are whole disks; and `total`, the
/// rates summed over whole disks (partitions not counted twice).
public struct DiskstatsModel: ModuleModel {
    struct Device {
        var name: String
        /// In `DiskstatsModel.columns` order.
        var columns: [Column]

        func column(_ name: String) -> Column { columns[DiskstatsModel.columns.firstIndex(of: name)!] }

        /// Any request or busy time during the run.
        var isActive: Bool {
            ["r/s", "w/s", "d/s", "f/s", "%util"].contains { column($0).contains { $0 > 0 } }
        }
    }

    static let columns = IostatMetrics.columns + ["in_flight"]
    static let totalColumns = ["r/s", "rkB/s", "w/s", "wkB/s", "d/s", "dkB/s", "f/s"]

    var time: Column
    var devices: [Device]
    var wholeDisks: [String]
    /// The devices with I/O in the run: every iostat column over the whole run (IostatMetrics.columns order).
    var overRun: [(device: String, values: [Double])]
    var badLines: Int

    enum Key: String, CaseIterable {
        case time, devices
        case wholeDisks = "whole_disks"
        case total
        case overRun = "over_run"
        case badLines = "bad_lines"
    }

    init(
        time: Column, devices: [Device], wholeDisks: [String], overRun: [(device: String, values: [Double])],
        badLines: Int
    ) {
        self.time = time
        self.devices = devices
        self.wholeDisks = wholeDisks
        self.overRun = overRun
        self.badLines = badLines
    }

    /// From the parser's per-device columns, without copying them.
    init(series: DiskstatsSeries, wholeDisks: [String]) {
        self.init(
            time: series.times,
            devices: series.names.indices.map { d in
                Device(name: series.names[d], columns: Self.columns.indices.map { series.column(d, $0) })
            }, wholeDisks: wholeDisks,
            overRun: series.names.indices.compactMap { d in series.overRun(d).map { (series.names[d], $0) } },
            badLines: series.badLines)
    }

    /// The entry read back: the keys it has must be the entry's, of their types, and each device's
    /// columns all there; a key the entry leaves out is one with nothing recorded.
    init(entry e: PyValue) throws {
        try e.refuseKeys(otherThan: [Key.time, .devices, .wholeDisks, .total, .overRun, .badLines])
        // `total` is written for analysis scripts; it is computed again from the devices.
        _ = try e.optional(Key.total, .dict)
        let devices = try decoding(Key.devices.rawValue) {
            try (e.optional(Key.devices, .dict) ?? []).map { name, d in
                Device(name: name, columns: try decoding(name) { try Self.columns.map { try d.required($0, .series) } })
            }
        }
        let overRun = try decoding(Key.overRun.rawValue) {
            try (e.optional(Key.overRun, .dict) ?? []).map { name, v in
                (name, try decoding(name) { try IostatMetrics.columns.map { try v.required($0, .numberOrNone) } })
            }
        }
        self.init(
            time: try e.optional(Key.time, .series) ?? Column(), devices: devices,
            wholeDisks: try e.optional(Key.wholeDisks, .strings) ?? [],
            overRun: overRun, badLines: try e.optional(Key.badLines, .int) ?? 0)
    }

    public var entry: PyValue {
        .keyed([
            (Key.time, .series(time)),
            (
                .devices,
                .stringDict(
                    devices.map { d in
                        (d.name, .stringDict(zip(Self.columns, d.columns).map { ($0, PyValue.floats($1)) }))
                    })
            ),
            (.wholeDisks, .strings(wholeDisks)),
            (.total, .stringDict(Self.totalColumns.map { ($0, .series(total($0))) })),
            (
                .overRun,
                .stringDict(
                    overRun.map { d in
                        (d.device, .stringDict(zip(IostatMetrics.columns, d.values).map { ($0, .float($1)) }))
                    })
            ),
            (.badLines, .int(Int64(badLines))),
        ])
    }

    /// The sum over whole disks of one rate; NaN where no whole disk has a value.
    func total(_ column: String) -> Column {
        let k = Self.columns.firstIndex(of: column)!
        // A name → index table, not a search per disk: 100,000 devices stay linear.
        let index = Dictionary(devices.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        return Column.sum(wholeDisks.compactMap { index[$0] }.map { devices[$0].columns[k] }, count: time.count)
    }

    /// iostat -x over the whole run, per device with I/O: for compare and the page, not the
    /// report (which lists what ranks: locks, symbols).
    static let overRunColumns: [ResultColumn] = [
        ResultColumn("%util", "%util", unit: "%", kind: .percent),
        ResultColumn("r/s", "r/s", unit: "1/s", kind: .rate, worse: .neither),
        ResultColumn("w/s", "w/s", unit: "1/s", kind: .rate, worse: .neither),
        ResultColumn("rkB/s", "rkB/s", unit: "kB/s", kind: .rate, worse: .lower),
        ResultColumn("wkB/s", "wkB/s", unit: "kB/s", kind: .rate, worse: .lower),
        ResultColumn("r_await", "r_await", unit: "ms", kind: .gauge),
        ResultColumn("w_await", "w_await", unit: "ms", kind: .gauge),
        ResultColumn("aqu-sz", "aqu-sz", unit: "1", kind: .gauge),
    ]
    static let deviceTable = ResultTable(
        name: "devices", metrics: overRunColumns, labels: ["device"], defaultSort: "%util", reported: false)

    public var results: Results {
        let units = [
            "r/s": "1/s", "rkB/s": "kB/s", "w/s": "1/s", "wkB/s": "kB/s", "d/s": "1/s", "dkB/s": "kB/s", "f/s": "1/s",
        ]
        var devices = Self.deviceTable
        let index = Self.overRunColumns.map { c in IostatMetrics.columns.firstIndex(of: c.name)! }
        devices.rows = overRun.map { d in ResultRow(labels: [d.device], values: index.map { d.values[$0] }) }
        return Results(
            tables: [devices], time: time,
            series: Self.totalColumns.map {
                ResultSeries(name: "whole disks \($0)", unit: units[$0]!, values: total($0))
            })
    }
}
