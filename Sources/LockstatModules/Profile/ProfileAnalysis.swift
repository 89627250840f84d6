/// The samples symbolized and counted: by symbol and by image, per CPU (opreport -l
/// --separate=cpu), as folded stacks (FlameGraph), and which symbols ran in each interval.
struct ProfileAnalysis {
    typealias Kind = Symbolizer.ImageKind

    struct Row {
        var symbol: String
        var image: String
        var kind: Kind
        /// Samples per CPU, in the order of the CPUs profiled.
        var perCPU: [Int]
        var total: Int { perCPU.reduce(0, +) }
    }

    private(set) var rows: [Row] = []
    private(set) var images: [Row] = []
    /// `comm;outermost;…;innermost` → samples; kernel frames end in `_[k]` (stackcollapse-perf's --kernel).
    private(set) var folded: [(stack: String, count: Int)] = []
    /// The image kind of every frame name in `folded`, for the flame graph's colours.
    private(set) var frameKinds: [String: Kind] = [:]
    private(set) var cpuTotals: [Int]
    /// Per row index, per interval: nanoseconds sampled (cpu-clock: the samples' periods) or,
    /// for the cycles counter, samples.
    private var intervalWeights: [Int: [Double]] = [:]
    let intervalEnds: [UInt64]
    private(set) var lost: UInt64 = 0
    private(set) var outsideCPUs = 0

    /// `records` in time order; `intervalEnds` the end times of the module's intervals.
    init(records: [ProfileRecord], snapshot: String, symbolizer: Symbolizer, cpus: [Int32], intervalEnds: [UInt64], weighByPeriod: Bool) {
        self.intervalEnds = intervalEnds
        cpuTotals = Array(repeating: 0, count: cpus.count)
        let column = Dictionary(uniqueKeysWithValues: cpus.enumerated().map { (UInt32(bitPattern: $0.element), $0.offset) })
        var spaces = AddressSpaces()
        spaces.load(snapshot: snapshot)
        var rowIndex = [Symbolizer.Frame: Int](), imageIndex = [String: Int](), stacks = [String: Int]()
        var rowTimes = [(row: Int, interval: Int, weight: Double)]()
        for record in records {
            guard case .sample(let s) = record else {
                if case .lost(let n) = record { lost += n }
                spaces.apply(record)
                continue
            }
            guard let cpu = column[s.cpu] else { outsideCPUs += 1; continue }
            var frames = [Symbolizer.Frame]()
            frames.reserveCapacity(s.frames.count)
            for (i, f) in s.frames.enumerated() {
                frames.append(f.kernel ? symbolizer.kernelFrame(f.address)
                                       : symbolizer.userFrame(f.address, in: spaces.mapping(pid: s.pid, address: f.address), returnAddress: i > 0))
            }
            let leaf = frames[0]
            if rowIndex[leaf] == nil {
                rowIndex[leaf] = rows.count
                rows.append(Row(symbol: leaf.symbol, image: leaf.image, kind: leaf.kind, perCPU: Array(repeating: 0, count: cpus.count)))
            }
            if imageIndex[leaf.image] == nil {
                imageIndex[leaf.image] = images.count
                images.append(Row(symbol: "", image: leaf.image, kind: leaf.kind, perCPU: Array(repeating: 0, count: cpus.count)))
            }
            let r = rowIndex[leaf]!
            rows[r].perCPU[cpu] += 1
            images[imageIndex[leaf.image]!].perCPU[cpu] += 1
            cpuTotals[cpu] += 1
            rowTimes.append((r, Self.interval(of: s.time, in: intervalEnds), weighByPeriod ? Double(s.period) : 1))
            var names = [spaces.name(pid: s.pid, tid: s.tid)]
            frameKinds[names[0]] = .unknown
            for f in frames.reversed() {
                let name = f.kind == .kernel ? f.symbol + "_[k]" : f.symbol
                frameKinds[name] = f.kind
                names.append(name)
            }
            stacks[names.joined(separator: ";"), default: 0] += 1
        }
        // Most samples first; ties by image and symbol, so the order is the same in every run.
        let order = rows.indices.sorted { a, b in
            (rows[a].total, rows[b].image, rows[b].symbol) > (rows[b].total, rows[a].image, rows[a].symbol)
        }
        var newIndex = [Int](repeating: 0, count: rows.count)
        for (new, old) in order.enumerated() { newIndex[old] = new }
        rows = order.map { rows[$0] }
        images.sort { ($0.total, $1.image) > ($1.total, $0.image) }
        folded = stacks.map { ($0.key, $0.value) }.sorted { $0.stack < $1.stack }
        for (row, interval, weight) in rowTimes where !intervalEnds.isEmpty {
            intervalWeights[newIndex[row], default: Array(repeating: 0, count: intervalEnds.count)][interval] += weight
        }
    }

    var total: Int { cpuTotals.reduce(0, +) }

    /// Row `index`'s weight in each interval.
    func weights(ofRow index: Int) -> [Double] { intervalWeights[index] ?? Array(repeating: 0, count: intervalEnds.count) }

    /// The first interval ending at or after `time`; the last one for anything later.
    static func interval(of time: UInt64, in ends: [UInt64]) -> Int {
        var lo = 0, hi = ends.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ends[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return min(lo, max(ends.count - 1, 0))
    }
}
