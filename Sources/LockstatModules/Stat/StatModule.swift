import LockstatCore

/// /proc/stat: CPU time by kind (mpstat's percentages), context switches, interrupts, forks.
public struct StatModule: TypedModule {
    public let name = "stat"
    public let summary = "CPU utilisation per CPU (mpstat %usr %sys ...), ctxt/s, intr/s, fork/s from /proc/stat"
    public let configKeys: [String: ConfigValue] = [:]
    public let samplesCheaply = true
    static let file = "/proc/stat"

    public init() {}

    public func unavailableReason(_ system: SystemRoot) -> String? {
        FileReader.check(system.path(Self.file)).map { "\(system.path(Self.file)): \($0.reason)" }
    }

    /// Any Linux machine has the file, and reading it costs next to nothing: always in `modules auto`.
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? { unavailableReason(system) }

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        try FileSnapshotRecorder(paths: [context.system.path(Self.file)], log: context.log)
    }

    public var analysisParts: AnalysisParts { [.model, .metrics] }

    /// Each snapshot parsed once, into the series (the model) and the totals (the metrics).
    public func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        let records = log.snapshots()
        var series = StatSeries()
        var totals = StatTotals()
        try records.read { r, bytes in
            let snapshot = StatSnapshot(ProcText(bytes: bytes))
            if parts.parts.contains(.model) { series.add(snapshot, time: log.seconds(r)) }
            if parts.parts.contains(.metrics) { totals.add(snapshot) }
        }
        var analysis = ModuleAnalysis(metricFamilies: parts.parts.contains(.metrics) ? totals.families : [])
        if parts.parts.contains(.model) {
            var warnings = [String]()
            if series.badLines > 0 {
                warnings.append(
                    "\(series.badLines) malformed lines in \(records.count) snapshots of \(Self.file) skipped")
            }
            analysis.parsed = ParsedModule(model: series.model, warnings: warnings)
        }
        return analysis
    }

    public func decode(_ entry: PyValue) throws -> StatModel { try StatModel(entry: entry) }

    public func plot(_ model: StatModel, into directory: TestDirectory) throws -> [String] {
        try StatPlots(model: model).write(into: directory)
    }
}
