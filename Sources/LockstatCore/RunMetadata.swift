import Foundation
import Glibc

/// DIR/run.json: what ran and where, so `graph`, the report and later comparisons can show and
/// check it without the live machine: the command, when and how long, the program's status,
/// the kernel and CPUs, the config, each module's interval and counts, the warnings and the
/// modules skipped with their reasons.
struct RunMetadata {
    static let fileName = "run.json"
    static let version = 1

    var command: [String]
    var started: Date
    var seconds: Double
    var status: Int32
    var config: String
    var system: SystemRoot
    var modules: [SampledModule]
    var skipped: [(module: String, reason: String)]
    var warnings: [String]
    var notes: [String]

    var value: PyValue {
        var uts = utsname()
        uname(&uts)
        let release = withUnsafeBytes(of: uts.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        let model = system.cpuModel
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return .stringDict([
            ("run_format", .int(Int64(Self.version))),
            ("command", .list(command.map(PyValue.string))),
            ("started", .string(formatter.string(from: started))),
            ("seconds", .float(seconds)),
            ("exit_status", .int(Int64(status))),
            ("kernel_release", .string(release)),
            ("cpu_model", .string(model)),
            ("cpus", .int(Int64(sysconf(Int32(_SC_NPROCESSORS_ONLN))))),
            ("proc_root", system.isReplay ? .string(system.root) : .none),
            ("config", .string(config)),
            ("modules", .list(modules.map { m in
                .stringDict([("name", .string(m.name)), ("interval_s", .float(Double(m.intervalNanoseconds) / 1e9)),
                             ("samples", .int(Int64(m.counters.samples.load(ordering: .relaxed)))),
                             ("missed_ticks", .int(Int64(m.counters.missed.load(ordering: .relaxed)))),
                             ("failed_samples", .int(Int64(m.counters.failed.load(ordering: .relaxed)))),
                             ("failed_writes", .int(Int64(m.writeErrors)))])
            })),
            ("skipped", .list(skipped.map { .stringDict([("module", .string($0.module)), ("reason", .string($0.reason))]) })),
            ("warnings", .list(warnings.map(PyValue.string))),
            ("notes", .list(notes.map(PyValue.string))),
        ])
    }
}
