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

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        try FileSnapshotRecorder(paths: [context.system.path(Self.file)], log: context.log)
    }

    public func parse(_ log: RawLog, config: Config) throws -> ParsedModule {
        let records = log.snapshots()
        var series = StatSeries()
        try records.read { r, bytes in series.add(StatSnapshot(ProcText(bytes: bytes)), time: log.seconds(r)) }
        var warnings = [String]()
        if series.badLines > 0 { warnings.append("\(series.badLines) malformed lines in \(records.count) snapshots of \(Self.file) skipped") }
        return ParsedModule(model: series.model, warnings: warnings)
    }

    public func decode(_ entry: PyValue) throws -> StatModel { StatModel(entry: entry) }

    public func plot(_ model: StatModel, into directory: TestDirectory) throws -> [String] {
        try StatPlots(model: model).write(into: directory)
    }
}
