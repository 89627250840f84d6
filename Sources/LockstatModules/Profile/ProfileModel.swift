import Foundation
import LockstatCore

/// The oprofile module's results: samples and their time by symbol, image and process, per CPU
/// profiled and for all; the top symbols' share per interval; folded stacks for the flame graph.
public struct ProfileModel: ModuleModel {
    /// A symbol (or an image, or a process): samples counted, and percentages of time (the
    /// samples' periods), as perf report's Overhead.
    struct Row {
        var symbol: String, image: String, kind: String
        var samples: Int, samplesPerCPU: [Int]
        var periodSum: Double
        var percent: Double, percentPerCPU: [Double]
    }

    struct Process {
        var name: String
        var samples: Int
        var periodSum: Double, percent: Double
    }

    var cpus: [Int]
    var cpuModel: String, event: String, scope: String
    var randomPeriod: Bool
    var frequency: Int
    var totalSamples: Int, samplesPerCPU: [Int]
    var periodSum: Double
    var rows: [Row], images: [Row], processes: [Process]
    var time: [Double]
    /// `symbol [image]` → its share per interval (%; NaN: none).
    var top: [(label: String, shares: [Double])]
    /// `comm;outermost;…;innermost` and its samples.
    var folded: [(stack: String, samples: Int)]
    /// Each frame name's image kind: kernel, program, library, unknown.
    var frameKinds: [(frame: String, kind: String)]
    var lost: Int

    enum Key: String, CaseIterable {
        case cpuCount = "n_cpu"
        case cpus
        case cpuModel = "cpu_model"
        case event
        case randomPeriod = "random_period"
        case frequency, scope
        case totalSamples = "total_samples"
        case samplesPerCPU = "samples_cpu"
        case periodSum = "period_sum"
        case rows, images, processes
        case time, top, folded
        case frameKinds = "frame_kinds"
        case lost
        case symbol, image, kind, samples, percent
        case percentPerCPU = "percent_cpu"
        case process
        case samplesAggregate = "samples_aggregate"
        case runtimeAggregate = "runtime_aggregate"
        case appName = "app_name"
        case symbolName = "symbol_name"
    }

    static func ints(_ values: [Int]) -> PyValue { .list(values.map { .int(Int64($0)) }) }

    func value(_ r: Row) -> PyValue {
        var items: [(String, PyValue)] = [
            (Key.symbol.rawValue, .string(r.symbol)), (Key.image.rawValue, .string(r.image)),
            (Key.kind.rawValue, .string(r.kind)),
            (Key.samples.rawValue, .int(Int64(r.samples))), (Key.samplesPerCPU.rawValue, Self.ints(r.samplesPerCPU)),
            (Key.periodSum.rawValue, .float(r.periodSum)), (Key.percent.rawValue, .float(r.percent)),
            (Key.percentPerCPU.rawValue, .list(r.percentPerCPU.map { .float($0) })),
        ]
        // The original's keys (samples_cpuN, runtime_cpuN), for analysis scripts written against it.
        for i in r.samplesPerCPU.indices {
            items += [
                ("samples_cpu\(i)", .int(Int64(r.samplesPerCPU[i]))), ("runtime_cpu\(i)", .float(r.percentPerCPU[i])),
            ]
        }
        items += [
            (Key.samplesAggregate.rawValue, .int(Int64(r.samples))), (Key.runtimeAggregate.rawValue, .float(r.percent)),
            (Key.appName.rawValue, .string(r.image)), (Key.symbolName.rawValue, .string(r.symbol)),
        ]
        return .stringDict(items)
    }

    public var entry: PyValue {
        .keyed([
            (Key.cpuCount, .int(Int64(cpus.count))), (.cpus, Self.ints(cpus)), (.cpuModel, .string(cpuModel)),
            (.event, .string(event)),
            (.randomPeriod, .bool(randomPeriod)), (.frequency, .int(Int64(frequency))), (.scope, .string(scope)),
            (.totalSamples, .int(Int64(totalSamples))), (.samplesPerCPU, Self.ints(samplesPerCPU)),
            (.periodSum, .float(periodSum)),
            (.rows, .list(rows.map(value))), (.images, .list(images.map(value))),
            (
                .processes,
                .list(
                    processes.map { p in
                        .keyed([
                            (Key.process, .string(p.name)), (.samples, .int(Int64(p.samples))),
                            (.periodSum, .float(p.periodSum)), (.percent, .float(p.percent)),
                        ])
                    })
            ),
            (.time, .series(time)), (.top, .stringDict(top.map { ($0.label, .series($0.shares)) })),
            (.folded, .list(folded.map { .tuple([.string($0.stack), .int(Int64($0.samples))]) })),
            (.frameKinds, .stringDict(frameKinds.map { ($0.frame, .string($0.kind)) })), (.lost, .int(Int64(lost))),
        ])
    }

    init(
        cpus: [Int], cpuModel: String, event: String, scope: String, randomPeriod: Bool, frequency: Int,
        totalSamples: Int,
        samplesPerCPU: [Int], periodSum: Double, rows: [Row], images: [Row], processes: [Process], time: [Double],
        top: [(label: String, shares: [Double])], folded: [(stack: String, samples: Int)],
        frameKinds: [(frame: String, kind: String)], lost: Int
    ) {
        self.cpus = cpus
        self.cpuModel = cpuModel
        self.event = event
        self.scope = scope
        self.randomPeriod = randomPeriod
        self.frequency = frequency
        self.totalSamples = totalSamples
        self.samplesPerCPU = samplesPerCPU
        self.periodSum = periodSum
        self.rows = rows
        self.images = images
        self.processes = processes
        self.time = time
        self.top = top
        self.folded = folded
        self.frameKinds = frameKinds
        self.lost = lost
    }

    /// The entry read back: the keys it has must be the entry's, of their types, and each row
    /// complete; a key the entry leaves out is one with nothing recorded.
    init(entry e: PyValue) throws {
        try e.refuseKeys(otherThan: [
            Key.cpuCount, .cpus, .cpuModel, .event, .randomPeriod, .frequency, .scope, .totalSamples,
            .samplesPerCPU, .periodSum, .rows, .images, .processes, .time, .top, .folded, .frameKinds, .lost,
        ])
        func rows(_ key: Key) throws -> [Row] {
            try (e.optional(key, .list) ?? []).enumerated().map { i, r in
                try decoding("\(key.rawValue)[\(i)]") {
                    Row(
                        symbol: try r.required(Key.symbol, .string), image: try r.required(Key.image, .string),
                        kind: try r.required(Key.kind, .string),
                        samples: try r.required(Key.samples, .int),
                        samplesPerCPU: try r.required(Key.samplesPerCPU, .ints),
                        periodSum: try r.required(Key.periodSum, .number),
                        percent: try r.required(Key.percent, .number),
                        percentPerCPU: try r.required(Key.percentPerCPU, .doubles))
                }
            }
        }
        let processes = try (e.optional(Key.processes, .list) ?? []).enumerated().map { i, p in
            try decoding("\(Key.processes.rawValue)[\(i)]") {
                Process(
                    name: try p.required(Key.process, .string), samples: try p.required(Key.samples, .int),
                    periodSum: try p.required(Key.periodSum, .number), percent: try p.required(Key.percent, .number))
            }
        }
        let top = try decoding(Key.top.rawValue) {
            try (e.optional(Key.top, .dict) ?? []).map { label, shares in
                (label, try PyValue.typed(shares, label, .doubles))
            }
        }
        let folded = try (e.optional(Key.folded, .list) ?? []).enumerated().map { i, item in
            try decoding("\(Key.folded.rawValue)[\(i)]") {
                guard case .tuple(let t) = item, t.count == 2, let stack = t[0].string,
                    let samples = PyType.int.read(t[1])
                else {
                    throw LockstatError("is \(item.typeName), not a tuple of a stack and its samples")
                }
                return (stack, samples)
            }
        }
        let frameKinds = try decoding(Key.frameKinds.rawValue) {
            try (e.optional(Key.frameKinds, .dict) ?? []).map { frame, kind in
                (frame, try PyValue.typed(kind, frame, .string))
            }
        }
        self.init(
            cpus: try e.optional(Key.cpus, .ints) ?? [], cpuModel: try e.optional(Key.cpuModel, .string) ?? "unknown",
            event: try e.optional(Key.event, .string) ?? "cpu-clock",
            scope: try e.optional(Key.scope, .string) ?? "system",
            randomPeriod: try e.optional(Key.randomPeriod, .bool) ?? false,
            frequency: try e.optional(Key.frequency, .int) ?? 0,
            totalSamples: try e.optional(Key.totalSamples, .int) ?? 0,
            samplesPerCPU: try e.optional(Key.samplesPerCPU, .ints) ?? [],
            periodSum: try e.optional(Key.periodSum, .number) ?? 0, rows: try rows(.rows), images: try rows(.images),
            processes: processes, time: try e.optional(Key.time, .doubles) ?? [], top: top, folded: folded,
            frameKinds: frameKinds, lost: try e.optional(Key.lost, .int) ?? 0)
    }

    // MARK: the generic form

    static let sampleColumns = [
        ResultColumn("samples", "samples", unit: "1", kind: .count),
        ResultColumn("percent", "time", unit: "%", kind: .percent),
    ]
    static let symbolTable = ResultTable(
        name: "symbols", metrics: sampleColumns, labels: ["image", "symbol"], identity: [1, 0], defaultSort: "samples")
    static let processTable = ResultTable(
        name: "processes", metrics: sampleColumns, labels: ["process"], defaultSort: "samples")

    public var results: Results {
        var symbols = Self.symbolTable
        var processes = Self.processTable
        symbols.rows = rows.map { ResultRow(labels: [$0.image, $0.symbol], values: [Double($0.samples), $0.percent]) }
        processes.rows = self.processes.map { ResultRow(labels: [$0.name], values: [Double($0.samples), $0.percent]) }
        return Results(
            tables: [symbols, processes], time: time,
            series: top.map { ResultSeries(name: $0.label, unit: "%", values: $0.shares) },
            notes: [
                "oprofile: \(totalSamples) samples (\(event) at \(frequency) Hz) on \(cpus.count) CPUs, \(lost) lost"
            ],
            stacks: [ResultStacks(name: "samples", unit: "1", folded: folded.map { ($0.stack, Double($0.samples)) })])
    }
}
