import Glibc
import LockstatCore

/// /proc/diskstats: every `iostat -x` column per device and interval.
public struct DiskstatsModule: TypedModule {
    public let name = "diskstats"
    public let summary =
        "disk I/O per device: every iostat -x column (r/s, rkB/s, r_await, aqu-sz, %util...) from /proc/diskstats"
    public let configKeys: [String: ConfigValue] = [:]
    public let samplesCheaply = true
    static let file = "/proc/diskstats"
    /// Stream 1 of the raw log: the /sys/block listing, at presampling and postsampling.
    static let sysBlockStream: UInt16 = 1

    public init() {}

    public func unavailableReason(_ system: SystemRoot) -> String? {
        FileReader.check(system.path(Self.file)).map { "\(system.path(Self.file)): \($0.reason)" }
    }

    /// Any Linux machine has the file, and reading it costs next to nothing: always in `modules auto`.
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? { unavailableReason(system) }

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        let recorder = try DiskstatsRecorder(system: context.system, log: context.log)
        recorder.recordWholeDisks()
        return recorder
    }

    public var analysisParts: AnalysisParts { [.model, .metrics] }

    /// Each snapshot read once, into the series (the model) and the totals (the metrics).
    public func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        let records = log.snapshots()
        var series = DiskstatsSeries()
        var totals = DiskTotals()
        try records.read { r, bytes in
            let text = ProcText(bytes: bytes)
            if parts.parts.contains(.model) { series.add(text, time: log.seconds(r)) }
            if parts.parts.contains(.metrics) { totals.add(text) }
        }
        var analysis = ModuleAnalysis(metricFamilies: parts.parts.contains(.metrics) ? totals.families : [])
        guard parts.parts.contains(.model) else { return analysis }
        let listed = log.sideRecords(stream: Self.sysBlockStream).reduce(into: Set<String>()) {
            $0.formUnion(WholeDisks.fromSysBlock(log.text($1)))
        }
        let whole =
            listed.isEmpty
            ? WholeDisks.guess(names: series.names, partitionLayout: series.shortLayout)
            : series.names.filter { listed.contains($0) }
        var warnings = [String]()
        if series.badLines > 0 {
            warnings.append("\(series.badLines) malformed lines in \(records.count) snapshots of \(Self.file) skipped")
        }
        analysis.parsed = ParsedModule(model: DiskstatsModel(series: series, wholeDisks: whole), warnings: warnings)
        return analysis
    }

    public func decode(_ entry: PyValue) throws -> DiskstatsModel { try DiskstatsModel(entry: entry) }

    public func plot(_ model: DiskstatsModel, into directory: TestDirectory) throws -> [String] {
        try DiskstatsPlots(model: model).write(into: directory)
    }
}

/// Samples /proc/diskstats on every tick, and lists /sys/block before and after.
final class DiskstatsRecorder: Recorder {
    private let snapshots: FileSnapshotRecorder
    private let system: SystemRoot
    private let log: RawLogWriter

    init(system: SystemRoot, log: RawLogWriter) throws {
        snapshots = try FileSnapshotRecorder(paths: [system.path(DiskstatsModule.file)], log: log)
        self.system = system
        self.log = log
    }

    func sample(tick: UInt64, time: UInt64) -> Bool { snapshots.sample(tick: tick, time: time) }

    func postsampling() { recordWholeDisks() }

    /// Devices can appear mid-run, so the listing is taken again at the end.
    func recordWholeDisks() {
        guard let dir = opendir(system.path("/sys/block")) else { return }
        defer { closedir(dir) }
        var names = [String]()
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) {
                String(cString: $0.bindMemory(to: CChar.self).baseAddress!)
            }
            if !name.hasPrefix(".") { names.append(name) }
        }
        log.append(
            kind: .side, stream: DiskstatsModule.sysBlockStream, tick: 0, time: 0,
            text: names.sorted().joined(separator: "\n"))
    }
}
