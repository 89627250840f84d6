import LockstatCore

/// The lock_stat module's results: per class and side, per column, the cumulative value the
/// kernel printed at each sample; the classes ranked by what they gained over the run, the top
/// ones with their rates per interval.
public struct LockStatModel: ModuleModel {
    struct Class {
        var name: String
        /// By column (in `columns` order), one value per sample; NaN: the overflow marker.
        var write: [[Double]], read: [[Double]]
        var contentionPoints: [CallSite], contendingPoints: [CallSite]
    }

    struct Ranked {
        var name: String
        /// Gained over the run: counts, and times in µs as the kernel prints them.
        var contentions: Double, waitTotal: Double, acquisitions: Double, holdTotal: Double
        /// Per interval, measured Δt; the top classes only.
        var rates: Rates?
    }

    struct Rates {
        var contentions: [Double], waitMicroseconds: [Double], acquisitions: [Double]
    }

    var version: String?
    var columns: [String]
    var time: [Double]
    var classes: [Class]
    /// Most wait first.
    var ranked: [Ranked]
    var badLines: Int

    /// The keys of the entry in samples.pickle, written and read here only.
    enum Key: String, CaseIterable {
        case version, columns, time, classes, top
        case badLines = "bad_lines"
        case write, read
        case contentionPoints = "contention_points"
        case contendingPoints = "contending_points"
        case symbol, address, count
        case `class`, contentions
        case waitTotal = "waittime-total"
        case acquisitions
        case holdTotal = "holdtime-total"
        case contentionRate = "contentions/s"
        case waitRate = "waittime us/s"
        case acquisitionRate = "acquisitions/s"
    }

    func lockClass(_ name: String) -> Class? { classes.first { $0.name == name } }

    /// The largest wait either side saw, as printed in the last sample (µs).
    func longestWait(_ name: String) -> Double {
        guard let c = lockClass(name), let k = columns.firstIndex(of: "waittime-max") else { return .nan }
        return [c.write[k].last, c.read[k].last].compactMap { $0 }.filter { !$0.isNaN }.max() ?? 0
    }

    public var entry: PyValue {
        func sites(_ list: [CallSite]) -> PyValue {
            .list(
                list.map {
                    .keyed([
                        (Key.symbol, .string($0.symbol)), (.address, .string($0.address)), (.count, .float($0.count)),
                    ])
                })
        }
        func side(_ values: [[Double]]) -> PyValue {
            .stringDict(columns.indices.map { (columns[$0], .series(values[$0])) })
        }
        let classes = classes.map { c -> (String, PyValue) in
            (
                c.name,
                .keyed([
                    (Key.write, side(c.write)), (.read, side(c.read)),
                    (.contentionPoints, sites(c.contentionPoints)), (.contendingPoints, sites(c.contendingPoints)),
                ])
            )
        }
        let top = ranked.map { r -> PyValue in
            var row: [(Key, PyValue)] = [
                (.class, .string(r.name)), (.contentions, .float(r.contentions)), (.waitTotal, .float(r.waitTotal)),
                (.acquisitions, .float(r.acquisitions)), (.holdTotal, .float(r.holdTotal)),
            ]
            if let rates = r.rates {
                row += [
                    (.contentionRate, .series(rates.contentions)), (.waitRate, .series(rates.waitMicroseconds)),
                    (.acquisitionRate, .series(rates.acquisitions)),
                ]
            }
            return .keyed(row)
        }
        return .keyed([
            (Key.version, version.map(PyValue.string) ?? .none), (.columns, .strings(columns)), (.time, .series(time)),
            (.classes, .stringDict(classes)), (.top, .list(top)), (.badLines, .int(Int64(badLines))),
        ])
    }

    static let classTable = ResultTable(
        name: "classes",
        metrics: [
            ResultColumn("contentions", "contended", unit: "1", kind: .count),
            ResultColumn("wait-total", "total wait", unit: "us", kind: .time),
            ResultColumn("wait-max", "max wait", unit: "us", kind: .gauge),
            ResultColumn("wait-avg", "avg wait", unit: "us", kind: .gauge),
            ResultColumn("acquisitions", "acquired", unit: "1", kind: .count, worse: .neither),
            ResultColumn("hold-total", "total hold", unit: "us", kind: .time),
            ResultColumn("hold-avg", "avg hold", unit: "us", kind: .gauge),
        ],
        labels: ["class", "top contention points"], defaultSort: "wait-total")

    public var results: Results {
        var table = Self.classTable
        table.rows = ranked.map { r in
            let sites = (lockClass(r.name)?.contentionPoints ?? []).prefix(2).map { "\($0.symbol) (\(Int($0.count)))" }
            return ResultRow(
                labels: [r.name, sites.joined(separator: ", ")],
                values: [
                    r.contentions, r.waitTotal, longestWait(r.name),
                    r.contentions > 0 ? r.waitTotal / r.contentions : 0,
                    r.acquisitions, r.holdTotal, r.acquisitions > 0 ? r.holdTotal / r.acquisitions : 0,
                ])
        }
        let top = ranked.filter { $0.rates != nil }
        return Results(
            tables: [table], time: time,
            series: top.map { ResultSeries(name: "\($0.name) wait", unit: "us/s", values: $0.rates!.waitMicroseconds) }
                + top.map { ResultSeries(name: "\($0.name) contentions", unit: "1/s", values: $0.rates!.contentions) })
    }
}

extension LockStatModel {
    /// The entry read back: the keys it has must be the entry's, of their types, and each class,
    /// call site and ranked row complete; a key the entry leaves out is one with nothing recorded.
    init(entry e: PyValue) throws {
        try e.refuseKeys(otherThan: [Key.version, .columns, .time, .classes, .top, .badLines])
        columns = try e.optional(Key.columns, .strings) ?? []
        version = try e.optional(Key.version, .string)
        time = try e.optional(Key.time, .doubles) ?? []
        badLines = try e.optional(Key.badLines, .int) ?? 0
        let columns = columns
        func side(_ c: PyValue, _ key: Key) throws -> [[Double]] {
            _ = try c.required(key, .dict)
            return try decoding(key.rawValue) { try columns.map { try c[key]!.required($0, .doubles) } }
        }
        func sites(_ c: PyValue, _ key: Key) throws -> [CallSite] {
            try c.required(key, .list).enumerated().map { i, site in
                try decoding("\(key.rawValue)[\(i)]") {
                    CallSite(
                        count: try site.required(Key.count, .number), address: try site.required(Key.address, .string),
                        symbol: try site.required(Key.symbol, .string))
                }
            }
        }
        classes = try decoding(Key.classes.rawValue) {
            try (e.optional(Key.classes, .dict) ?? []).map { name, c in
                try decoding(name) {
                    Class(
                        name: name, write: try side(c, .write), read: try side(c, .read),
                        contentionPoints: try sites(c, .contentionPoints),
                        contendingPoints: try sites(c, .contendingPoints))
                }
            }
        }
        ranked = try (e.optional(Key.top, .list) ?? []).enumerated().map { i, r in
            try decoding("\(Key.top.rawValue)[\(i)]") {
                // Only the top classes have rates: all three, or none.
                let rates = try r.optional(Key.waitRate, .doubles).map { wait in
                    Rates(
                        contentions: try r.required(Key.contentionRate, .doubles), waitMicroseconds: wait,
                        acquisitions: try r.required(Key.acquisitionRate, .doubles))
                }
                return Ranked(
                    name: try r.required(Key.class, .string), contentions: try r.required(Key.contentions, .number),
                    waitTotal: try r.required(Key.waitTotal, .number),
                    acquisitions: try r.required(Key.acquisitions, .number),
                    holdTotal: try r.required(Key.holdTotal, .number), rates: rates)
            }
        }
    }
}
