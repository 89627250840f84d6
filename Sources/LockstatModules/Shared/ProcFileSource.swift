import LockstatCore

/// Totals a served module keeps of one /proc file's snapshots.
protocol SnapshotTotals {
    mutating func add(_ text: ProcText)
    var families: [MetricFamily] { get }
}

/// serve's reading of one /proc file: at presampling and at each scrape, and every interval
/// too when what happens between scrapes matters (a disk removed and added again).
final class ProcFileSource<Totals: SnapshotTotals>: MetricsSource {
    private let path: String
    private let everyInterval: Bool
    private var totals: Totals

    init(path: String, totals: Totals, everyInterval: Bool) throws {
        self.path = path
        self.totals = totals
        self.everyInterval = everyInterval
        guard read() else { throw LockstatError("\(path): cannot be read") }
    }

    @discardableResult
    private func read() -> Bool {
        guard case .success(let bytes) = FileReader.readAll(path) else { return false }
        bytes.withUnsafeBytes { totals.add(ProcText(bytes: $0)) }
        return true
    }

    func sample() { if everyInterval { read() } }

    func families() -> [MetricFamily] {
        read()
        return totals.families
    }

    func stop() {}
}
