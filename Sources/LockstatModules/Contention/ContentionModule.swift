import CLockstat
import Foundation
import LockstatCore

/// Lock contention on ordinary kernels (5.19+), from the lock:contention_begin/end tracepoints,
/// as `perf lock contention` sees it: who waited, where, on which lock, for how long.
public struct ContentionModule: LockstatModule {
    public let name = "contention"
    public let summary = "lock contention from the lock:contention_begin/end tracepoints (5.19+ kernels): callers, locks, wait times, flame graph"
    public let configKeys: [String: ConfigValue] = ["scope": .choice(["system", "program"]), "top": .positiveInteger]
    /// Draining rings takes as long as the events take: a thread of its own.
    public let samplesCheaply = false
    /// Often enough that a 512 KiB ring does not fill under heavy contention.
    public let defaultInterval: Double? = 0.05
    static let kallsymsStream: UInt16 = 1000, layoutStream: UInt16 = 1001, commStream: UInt16 = 1002

    public init() {}

    public func unavailableReason(_ system: SystemRoot) -> String? {
        if let refusal = PerfPermission.refusal(system) { return refusal }
        guard Tracefs.locate(system) != nil else {
            let release = ProcessInfo.processInfo.operatingSystemVersion
            if (release.majorVersion, release.minorVersion) < (5, 19) { return "kernel older than 5.19: no lock:contention tracepoints" }
            return "no lock:contention tracepoints in tracefs (" + Tracefs.candidates.map(system.path).joined(separator: ", ") + ")"
        }
        return nil
    }

    public func presampling(_ context: RecordingContext) throws -> any Recorder {
        guard let tracefs = Tracefs.locate(context.system), let begin = tracefs.id("contention_begin"), let end = tracefs.id("contention_end") else {
            throw LockstatError("no lock:contention tracepoints")
        }
        let beginFormat = tracefs.format("contention_begin"), endFormat = tracefs.format("contention_end")
        let layout = TracepointLayout(beginID: begin, endID: end,
                                      lockAddressOffset: Tracefs.offset(of: "lock_addr", in: beginFormat) ?? 8,
                                      valueOffset: Tracefs.offset(of: "flags", in: beginFormat) ?? 16)
        let scopeProgram = context.config.setting(name, "scope")?.first == "program"
        let recorder = try ContentionRecorder(layout: layout, cpus: onlineCPUs(context.system), scopeProgram: scopeProgram,
                                              system: context.system, log: context.log)
        // What parse needs to read the events again later: the layout, the kernel's symbols.
        context.log.append(kind: .side, stream: Self.layoutStream, tick: 0, time: 0,
                           text: "begin_id \(begin)\nend_id \(end)\nlock_addr_offset \(layout.lockAddressOffset)\n" +
                                 "flags_offset \(layout.valueOffset)\nret_offset \(Tracefs.offset(of: "ret", in: endFormat) ?? 16)\n" +
                                 "scope \(scopeProgram ? "program" : "system")\n")
        KallsymsRecord.append(context.system, to: context.log, stream: Self.kallsymsStream)
        return recorder
    }

    public func parse(_ log: RawLog, config: Config) throws -> ParsedModule {
        let data = try ContentionData(log: log, top: Int(config.setting(name, "top")?.first ?? "") ?? 10)
        let files = [("samples/contention.txt", ContentionAnalysis.table(data.analysis.byCaller, keyTitle: "caller")),
                     ("contention.folded", data.analysis.folded.map { "\($0.0) \($0.1)" }.joined(separator: "\n") + "\n")]
        var warnings = [String]()
        if data.lost > 0 { warnings.append("\(data.lost) events lost: the ring buffers were full (a shorter contention.intervall drains them more often)") }
        if data.undecodable > 0 { warnings.append("\(data.undecodable) records did not decode") }
        return ParsedModule(data: data.pyValue, warnings: warnings, files: files)
    }

    public func plot(_ data: PyValue, into directory: TestDirectory) throws -> [String] {
        try ContentionPlots(data: data).write(into: directory)
    }
}
