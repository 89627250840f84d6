import LockstatCore

/// The samples symbolized and counted: by symbol, by image and by process, per CPU (opreport
/// -l --separate=cpu), as folded stacks (FlameGraph), and which symbols ran in each interval.
struct ProfileAnalysis {
    typealias Kind = Symbolizer.ImageKind

    /// Samples, and the time (cpu-clock: ns) or events (cycles) they stand for — the sum of their
    /// periods, perf report's Overhead — per CPU, in the order of the CPUs profiled. With a
    /// random period the periods, not the counts, give unbiased shares.
    struct Tally {
        var samples: [Int]
        var period: [Double]

        init(cpus: Int) {
            samples = Array(repeating: 0, count: cpus)
            period = Array(repeating: 0, count: cpus)
        }

        mutating func add(cpu: Int, period p: UInt64) {
            samples[cpu] += 1
            period[cpu] += Double(p)
        }

        var totalSamples: Int { samples.reduce(0, +) }
        var totalPeriod: Double { period.reduce(0, +) }
    }

    struct Row {
        /// The symbol; empty in the image and process tables.
        var symbol: String
        /// The image; the process name in the process table.
        var image: String
        var kind: Kind
        var tally: Tally
    }

    private(set) var rows: [Row] = []
    private(set) var images: [Row] = []
    private(set) var processes: [Row] = []
    /// `comm;outermost;…;innermost` → samples; kernel frames end in `_[k]` (stackcollapse-perf's --kernel).
    private(set) var folded: [(stack: String, count: Int)] = []
    /// The image kind of every frame name in `folded`, for the flame graph's colours.
    private(set) var frameKinds: [String: Kind] = [:]
    private(set) var all: Tally
    /// Per row index, per interval: the sum of the samples' periods.
    private var intervalPeriods: [Int: [Double]] = [:]
    /// Per interval: the sum of all samples' periods.
    private(set) var intervalTotals: [Double]
    let intervalEnds: [UInt64]
    private(set) var lost: UInt64 = 0
    /// oprofile.callgraph dwarf: samples with a user stack copy, and those unwound to a frame.
    private(set) var copiedStacks = 0
    private(set) var unwoundStacks = 0
    /// Every sample's stack with addresses and mappings, when asked for (`lockstat export --format pprof`).
    private(set) var stacks: StackProfile?

    /// `records` in time order; `intervalEnds` the end times of the module's intervals.
    /// `columns`: a sample's CPU number → its column in the per-CPU lists.
    /// `stacks`: an empty profile to fill with every sample's stack (nil: none kept).
    init(
        records: [ProfileRecord], snapshot: String, symbolizer: Symbolizer, columns column: [UInt32: Int],
        intervalEnds: [UInt64],
        stacks: StackProfile? = nil
    ) {
        self.stacks = stacks
        let cpus = column.count
        self.intervalEnds = intervalEnds
        all = Tally(cpus: cpus)
        intervalTotals = Array(repeating: 0, count: intervalEnds.count)
        var spaces = AddressSpaces()
        spaces.load(snapshot: snapshot)
        var rowIndex = [Symbolizer.Frame: Int]()
        var imageIndex = [String: Int]()
        var processIndex = [String: Int]()
        var stacks = [String: Int]()
        var rowTimes = [(row: Int, interval: Int, period: Double)]()
        // oprofile.callgraph dwarf: user stacks unwound here, against the files each process had mapped.
        let unwinder = UserUnwinder()
        /// Adds a sample to `key`'s row of `table` (made by `row` the first time); its index.
        @discardableResult
        func tally<Key: Hashable>(
            _ table: inout [Row], _ index: inout [Key: Int], _ key: Key, _ row: () -> Row, cpu: Int, period: UInt64
        ) -> Int {
            if index[key] == nil {
                index[key] = table.count
                table.append(row())
            }
            table[index[key]!].tally.add(cpu: cpu, period: period)
            return index[key]!
        }
        for record in records {
            guard case .sample(let s) = record else {
                if case .lost(let n) = record { lost += n }
                spaces.apply(record)
                continue
            }
            guard let cpu = column[s.cpu] else { continue }
            var sampleFrames = s.frames.map { (frame: $0, returnAddress: true) }
            if !s.userStack.isEmpty {
                copiedStacks += 1
                let user = unwinder.unwind(
                    mappings: Self.userMappings(spaces, pid: s.pid), registers: s.userRegisters, stack: s.userStack)
                if !user.pcs.isEmpty {
                    sampleFrames.removeAll { !$0.frame.kernel }
                    for (pc, isReturn) in zip(user.pcs, user.returnAddress) {
                        sampleFrames.append((ProfileSample.Frame(address: pc, kernel: false), isReturn))
                    }
                    unwoundStacks += 1
                }
            }
            var frames = [Symbolizer.Frame]()
            frames.reserveCapacity(sampleFrames.count)
            var located = [StackProfile.Frame]()
            for (i, (f, isReturn)) in sampleFrames.enumerated() {
                let mapping = f.kernel ? nil : spaces.mapping(pid: s.pid, address: f.address)
                let frame =
                    f.kernel
                    ? symbolizer.kernelFrame(f.address)
                    : symbolizer.userFrame(f.address, in: mapping, returnAddress: i > 0 && isReturn)
                frames.append(frame)
                if self.stacks != nil {
                    located.append(
                        StackProfile.Frame(
                            address: f.address, function: frame.symbol,
                            mapping: f.kernel ? .kernel : mapping.map { symbolizer.pprofMapping($0) }))
                }
            }
            let leaf = frames[0]
            let process = spaces.name(pid: s.pid, tid: s.tid)
            self.stacks?.add(frames: located, values: [1, Int64(clamping: s.period)], labels: [("process", process)])
            let r = tally(
                &rows, &rowIndex, leaf,
                { Row(symbol: leaf.symbol, image: leaf.image, kind: leaf.kind, tally: Tally(cpus: cpus)) }, cpu: cpu,
                period: s.period)
            tally(
                &images, &imageIndex, leaf.image,
                { Row(symbol: "", image: leaf.image, kind: leaf.kind, tally: Tally(cpus: cpus)) }, cpu: cpu,
                period: s.period)
            tally(
                &processes, &processIndex, process,
                { Row(symbol: "", image: process, kind: .unknown, tally: Tally(cpus: cpus)) }, cpu: cpu,
                period: s.period)
            all.add(cpu: cpu, period: s.period)
            rowTimes.append((r, Self.interval(of: s.time, in: intervalEnds), Double(s.period)))
            var names = [process]
            frameKinds[process] = .unknown
            for f in frames.reversed() {
                let name = f.kind == .kernel ? f.symbol + "_[k]" : f.symbol
                frameKinds[name] = f.kind
                names.append(name)
            }
            stacks[names.joined(separator: ";"), default: 0] += 1
        }
        // Most time first; ties by image and symbol, so the order is the same in every run.
        let order = rows.indices.sorted { a, b in
            (rows[a].tally.totalPeriod, rows[b].image, rows[b].symbol) > (
                rows[b].tally.totalPeriod, rows[a].image, rows[a].symbol
            )
        }
        var newIndex = [Int](repeating: 0, count: rows.count)
        for (new, old) in order.enumerated() { newIndex[old] = new }
        rows = order.map { rows[$0] }
        images.sort { ($0.tally.totalPeriod, $1.image) > ($1.tally.totalPeriod, $0.image) }
        processes.sort { ($0.tally.totalPeriod, $1.image) > ($1.tally.totalPeriod, $0.image) }
        folded = stacks.map { ($0.key, $0.value) }.sorted { $0.stack < $1.stack }
        for (row, interval, period) in rowTimes where !intervalEnds.isEmpty {
            intervalPeriods[newIndex[row], default: Array(repeating: 0, count: intervalEnds.count)][interval] += period
            intervalTotals[interval] += period
        }
    }

    /// The code files process `pid` has mapped now, as the unwinder takes them (no build ID was
    /// recorded with them: the files are not checked).
    static func userMappings(_ spaces: AddressSpaces, pid: UInt32) -> [UserMapping] {
        spaces.mappings(pid: pid).filter { $0.executable && $0.path.hasPrefix("/") }.map {
            UserMapping(path: $0.path, start: $0.start, end: $0.end, fileOffset: $0.fileOffset, buildID: "")
        }
    }

    /// Row `index`'s periods summed in each interval.
    func periods(ofRow index: Int) -> [Double] {
        intervalPeriods[index] ?? Array(repeating: 0, count: intervalEnds.count)
    }

    /// The first interval ending at or after `time`; the last one for anything later.
    static func interval(of time: UInt64, in ends: [UInt64]) -> Int {
        var lo = 0
        var hi = ends.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if ends[mid] < time { lo = mid + 1 } else { hi = mid }
        }
        return min(lo, max(ends.count - 1, 0))
    }
}
