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

    enum Key: String {
        case cpuCount = "n_cpu", cpus, cpuModel = "cpu_model", event, randomPeriod = "random_period", frequency, scope
        case totalSamples = "total_samples", samplesPerCPU = "samples_cpu", periodSum = "period_sum", rows, images, processes
        case time, top, folded, frameKinds = "frame_kinds", lost
        case symbol, image, kind, samples, percent, percentPerCPU = "percent_cpu", process
        case samplesAggregate = "samples_aggregate", runtimeAggregate = "runtime_aggregate", appName = "app_name", symbolName = "symbol_name"
    }

    static func ints(_ values: [Int]) -> PyValue { .list(values.map { .int(Int64($0)) }) }

    func value(_ r: Row) -> PyValue {
        var items: [(String, PyValue)] = [
            (Key.symbol.rawValue, .string(r.symbol)), (Key.image.rawValue, .string(r.image)), (Key.kind.rawValue, .string(r.kind)),
            (Key.samples.rawValue, .int(Int64(r.samples))), (Key.samplesPerCPU.rawValue, Self.ints(r.samplesPerCPU)),
            (Key.periodSum.rawValue, .float(r.periodSum)), (Key.percent.rawValue, .float(r.percent)),
            (Key.percentPerCPU.rawValue, .list(r.percentPerCPU.map { .float($0) })),
        ]
        // The original's keys (samples_cpuN, runtime_cpuN), for analysis scripts written against it.
        for i in r.samplesPerCPU.indices {
            items += [("samples_cpu\(i)", .int(Int64(r.samplesPerCPU[i]))), ("runtime_cpu\(i)", .float(r.percentPerCPU[i]))]
        }
        items += [(Key.samplesAggregate.rawValue, .int(Int64(r.samples))), (Key.runtimeAggregate.rawValue, .float(r.percent)),
                  (Key.appName.rawValue, .string(r.image)), (Key.symbolName.rawValue, .string(r.symbol))]
        return .stringDict(items)
    }

    public var entry: PyValue {
        .keyed([
            (Key.cpuCount, .int(Int64(cpus.count))), (.cpus, Self.ints(cpus)), (.cpuModel, .string(cpuModel)), (.event, .string(event)),
            (.randomPeriod, .bool(randomPeriod)), (.frequency, .int(Int64(frequency))), (.scope, .string(scope)),
            (.totalSamples, .int(Int64(totalSamples))), (.samplesPerCPU, Self.ints(samplesPerCPU)), (.periodSum, .float(periodSum)),
            (.rows, .list(rows.map(value))), (.images, .list(images.map(value))),
            (.processes, .list(processes.map { p in
                .keyed([(Key.process, .string(p.name)), (.samples, .int(Int64(p.samples))), (.periodSum, .float(p.periodSum)), (.percent, .float(p.percent))])
            })),
            (.time, .series(time)), (.top, .stringDict(top.map { ($0.label, .series($0.shares)) })),
            (.folded, .list(folded.map { .tuple([.string($0.stack), .int(Int64($0.samples))]) })),
            (.frameKinds, .stringDict(frameKinds.map { ($0.frame, .string($0.kind)) })), (.lost, .int(Int64(lost))),
        ])
    }

    init(cpus: [Int], cpuModel: String, event: String, scope: String, randomPeriod: Bool, frequency: Int, totalSamples: Int,
         samplesPerCPU: [Int], periodSum: Double, rows: [Row], images: [Row], processes: [Process], time: [Double],
         top: [(label: String, shares: [Double])], folded: [(stack: String, samples: Int)], frameKinds: [(frame: String, kind: String)], lost: Int) {
        self.cpus = cpus; self.cpuModel = cpuModel; self.event = event; self.scope = scope; self.randomPeriod = randomPeriod
        self.frequency = frequency; self.totalSamples = totalSamples; self.samplesPerCPU = samplesPerCPU; self.periodSum = periodSum
        self.rows = rows; self.images = images; self.processes = processes; self.time = time; self.top = top
        self.folded = folded; self.frameKinds = frameKinds; self.lost = lost
    }

    init(entry e: PyValue) {
        func int(_ v: PyValue?) -> Int { Int(v?.number ?? 0) }
        func ints(_ v: PyValue?) -> [Int] { (v?.listItems ?? []).map(int) }
        func rows(_ key: Key) -> [Row] {
            (e[key]?.listItems ?? []).map { r in
                Row(symbol: r[Key.symbol]?.string ?? "?", image: r[Key.image]?.string ?? "?", kind: r[Key.kind]?.string ?? "unknown",
                    samples: int(r[Key.samples]), samplesPerCPU: ints(r[Key.samplesPerCPU]), periodSum: r[Key.periodSum]?.number ?? 0,
                    percent: r[Key.percent]?.number ?? 0, percentPerCPU: (r[Key.percentPerCPU]?.listItems ?? []).map { $0.number ?? 0 })
            }
        }
        let top = e[Key.top], kinds = e[Key.frameKinds]
        self.init(cpus: ints(e[Key.cpus]), cpuModel: e[Key.cpuModel]?.string ?? "unknown", event: e[Key.event]?.string ?? "cpu-clock",
                  scope: e[Key.scope]?.string ?? "system", randomPeriod: e[Key.randomPeriod] == .bool(true), frequency: int(e[Key.frequency]),
                  totalSamples: int(e[Key.totalSamples]), samplesPerCPU: ints(e[Key.samplesPerCPU]), periodSum: e[Key.periodSum]?.number ?? 0,
                  rows: rows(.rows), images: rows(.images),
                  processes: (e[Key.processes]?.listItems ?? []).map { p in
                      Process(name: p[Key.process]?.string ?? "?", samples: int(p[Key.samples]), periodSum: p[Key.periodSum]?.number ?? 0,
                              percent: p[Key.percent]?.number ?? 0)
                  },
                  time: e[Key.time]?.doubles ?? [], top: (top?.keys ?? []).map { ($0, top?[$0]?.doubles ?? []) },
                  folded: (e[Key.folded]?.listItems ?? []).compactMap { item in
                      guard case .tuple(let t) = item, t.count == 2, let s = t[0].string else { return nil }
                      return (s, int(t[1]))
                  },
                  frameKinds: (kinds?.keys ?? []).map { ($0, kinds?[$0]?.string ?? "unknown") }, lost: int(e[Key.lost]))
    }

    // MARK: the generic form

    static let sampleColumns = [ResultColumn("samples", "samples", unit: "1", kind: .count),
                                ResultColumn("percent", "time", unit: "%", kind: .percent)]
    static let symbolTable = ResultTable(name: "symbols", metrics: sampleColumns, labels: ["image", "symbol"], identity: [1, 0], defaultSort: "samples")
    static let processTable = ResultTable(name: "processes", metrics: sampleColumns, labels: ["process"], defaultSort: "samples")

    public var results: Results {
        var symbols = Self.symbolTable, processes = Self.processTable
        symbols.rows = rows.map { ResultRow(labels: [$0.image, $0.symbol], values: [Double($0.samples), $0.percent]) }
        processes.rows = self.processes.map { ResultRow(labels: [$0.name], values: [Double($0.samples), $0.percent]) }
        return Results(tables: [symbols, processes], time: time,
                       series: top.map { ResultSeries(name: $0.label, unit: "%", values: $0.shares) },
                       notes: ["oprofile: \(totalSamples) samples (\(event) at \(frequency) Hz) on \(cpus.count) CPUs, \(lost) lost"],
                       stacks: [ResultStacks(name: "samples", unit: "1", folded: folded.map { ($0.stack, Double($0.samples)) })])
    }
}
