import CLockstat
import Foundation
import LockstatCore
import SystemPackage

/// /proc/lock_stat of CONFIG_LOCK_STAT kernels: contention and hold statistics per lock class.
public struct LockStatModule: TypedModule {
    static let moduleName = "lock_stat"
    public let name = moduleName
    public let summary =
        "lock contention per lock class from /proc/lock_stat (CONFIG_LOCK_STAT kernels): wait and hold times, call sites"
    public var configKeys: [String: ConfigValue] { LockStatSettings.configKeys }
    /// The file is large and costly to read, and a slow read must not delay other modules.
    public let samplesCheaply = false
    public let defaultInterval: Double? = 1
    static let file = "/proc/lock_stat"
    public let exampleSettings = ["intervall 1", "clear no", "top 10"]
    static let switchFile = "/proc/sys/kernel/lock_stat"

    public init() {}

    public func unavailableReason(_ system: SystemRoot) -> String? {
        switch FileReader.check(system.path(Self.file)) {
        case nil: return nil
        case .missing: return "kernel built without CONFIG_LOCK_STAT (no \(system.path(Self.file)))"
        case .permissionDenied: return "needs root (\(system.path(Self.file)) is readable by root only)"
        case let failure?: return "\(system.path(Self.file)): \(failure.reason)"
        }
    }

    /// Where the kernel has /proc/lock_stat, the switch costs nothing the kernel's lockdep does not already cost.
    public func automaticRefusal(_ config: Config, _ system: SystemRoot) -> String? {
        switch FileReader.check(system.path(Self.file)) {
        case nil: return nil
        case .missing:
            return unavailableReason(system).map {
                $0 + ": a kernel built with CONFIG_LOCK_STAT=y has it (README: Getting a lock_stat kernel)"
            }
        case .permissionDenied: return unavailableReason(system).map { $0 + ": run lockstat as root" }
        default: return unavailableReason(system)
        }
    }

    /// Remembers /proc/sys/kernel/lock_stat, switches collection on and clears the statistics, so
    /// the run measures the program alone. The remembered value is restored by postsampling and,
    /// should lockstat die of a signal or a crash, by the signal handler.
    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        if context.system.isReplay {
            // A replay never writes into the replayed tree: it is the user's capture.
            context.warn(
                "lock_stat: replaying \(context.system.root): the lock_stat switch and clear are skipped (nothing is written into a replayed tree)"
            )
            let snapshots = try DeltaSnapshotRecorder(path: context.system.path(Self.file), log: context.log)
            return LockStatRecorder(snapshots: snapshots, switch: nil)
        }
        let on = try LockStatSwitch.turnOn(context.system, clearing: LockStatSettings(context.config).clear)
        let snapshots = try DeltaSnapshotRecorder(path: context.system.path(Self.file), log: context.log)
        return LockStatRecorder(snapshots: snapshots, switch: on)
    }

    public var analysisParts: AnalysisParts { [.model, .metrics] }

    /// Each snapshot parsed once, into the series (the model) and the totals (the metrics).
    public func analyze(_ log: RawLog, config: Config, parts: AnalysisRequest) throws -> ModuleAnalysis {
        var series = LockStatSeries()
        var totals = LockStatTotals()
        let settings = LockStatSettings(config)
        series.cleared = settings.clear
        try log.snapshots().read { record, bytes in
            let snapshot = LockStatSnapshot(String(decoding: bytes, as: UTF8.self))
            if parts.parts.contains(.model) { series.add(snapshot, time: log.seconds(record)) }
            if parts.parts.contains(.metrics) { totals.add(snapshot) }
        }
        var analysis = ModuleAnalysis(metricFamilies: parts.parts.contains(.metrics) ? totals.families : [])
        if parts.parts.contains(.model) {
            let top = settings.top
            var warnings = [String]()
            if series.badLines > 0 {
                warnings.append("\(series.badLines) lines of \(Self.file) fit no known shape and were skipped")
            }
            analysis.parsed = ParsedModule(model: series.model(top: top), warnings: warnings)
        }
        return analysis
    }

    public func decode(_ entry: PyValue) throws -> LockStatModel { try LockStatModel(entry: entry) }

    public func plot(_ model: LockStatModel, into directory: TestDirectory) throws -> [String] {
        try LockStatPlots(model: model).write(into: directory)
    }

    public var tableSchemas: [ResultTable] { [LockStatModel.classTable] }
}

/// Samples /proc/lock_stat; postsampling puts the collection switch back as it was.
final class LockStatRecorder: Recorder {
    private let snapshots: DeltaSnapshotRecorder
    /// nil in a replay: nothing to put back.
    private let `switch`: LockStatSwitch?

    init(snapshots: DeltaSnapshotRecorder, switch: LockStatSwitch?) {
        self.snapshots = snapshots
        self.switch = `switch`
    }

    func sample(tick: UInt64, time: UInt64) -> Bool { snapshots.sample(tick: tick, time: time) }

    func postsampling() { self.switch?.restore() }
}

/// /proc/sys/kernel/lock_stat turned on for a run or serve, and put back as it was (a crash
/// too: the restore is registered before the switch is written).
struct LockStatSwitch {
    let path: String
    let remembered: String

    /// On, and every class's statistics cleared when `clearing` (writing a string that starts
    /// with 0 to /proc/lock_stat clears them, lockdep_proc.c).
    static func turnOn(_ system: SystemRoot, clearing: Bool) throws -> LockStatSwitch {
        let path = system.path(LockStatModule.switchFile)
        guard case .success(let text) = FileReader.readText(path) else {
            throw LockstatError("\(path): cannot read the lock_stat switch")
        }
        let on = LockStatSwitch(path: path, remembered: text.trimmingCharacters(in: .whitespacesAndNewlines))
        guard ls_restore_register(path, on.remembered + "\n") == 0 else {
            throw LockstatError("\(path): too many restores")
        }
        try writeControl(path, "1\n")
        if clearing { try writeControl(system.path(LockStatModule.file), "0\n") }
        return on
    }

    func restore() {
        try? writeControl(path, remembered + "\n")
        ls_restore_cancel(path)
    }
}

/// Writes a kernel control file (a sysctl, a clear) with one write(2).
func writeControl(_ path: String, _ value: String) throws {
    let fd = open(path, O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { throw LockstatError("\(path): cannot write: \(FileReader.Failure.from(errno).reason)") }
    defer { close(fd) }
    let n = value.withCString { write(fd, $0, strlen($0)) }
    guard n == value.utf8.count else {
        throw LockstatError("\(path): cannot write: \(SystemPackage.Errno(rawValue: errno).description)")
    }
}
