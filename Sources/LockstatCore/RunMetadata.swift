import Foundation
import Glibc

/// DIR/run.json: what ran and where, so `graph`, the report and later comparisons can show and
/// check it without the live machine: the command, when and how long, the program's status,
/// the kernel and CPUs, the config, each module's interval and counts, the warnings and the
/// modules skipped with their reasons. Written and read by this type alone; every key is
/// optional on reading, so a run.json cut short or made by hand reads as what it has.
public struct RunMetadata: Codable, Sendable {
    static let fileName = "run.json"
    static let version = 1

    public struct Module: Codable, Sendable {
        public var name: String?
        public var intervalSeconds: Double?
        public var samples: Int?
        public var missedTicks: Int?
        public var failedSamples: Int?
        public var failedWrites: Int?

        enum CodingKeys: String, CodingKey {
            case name
            case intervalSeconds = "interval_s"
            case samples
            case missedTicks = "missed_ticks"
            case failedSamples = "failed_samples"
            case failedWrites = "failed_writes"
        }
    }

    public struct Skipped: Codable, Sendable {
        public var module: String?
        public var reason: String?
    }

    public var runFormat: Int?
    public var command: [String]?
    /// ISO 8601, with fractions of a second.
    public var started: String?
    public var seconds: Double?
    public var exitStatus: Int?
    public var kernelRelease: String?
    public var cpuModel: String?
    public var cpus: Int?
    /// A replay's --proc-root (None for a live run).
    public var procRoot: String?
    public var config: String?
    public var modules: [Module]?
    public var skipped: [Skipped]?
    public var warnings: [String]?
    public var notes: [String]?

    enum CodingKeys: String, CodingKey {
        case runFormat = "run_format"
        case command, started, seconds
        case exitStatus = "exit_status"
        case kernelRelease = "kernel_release"
        case cpuModel = "cpu_model"
        case cpus
        case procRoot = "proc_root"
        case config, modules, skipped, warnings, notes
    }

    /// A run.json with no key (none was written).
    public init() {}

    /// The run.json of a run that just ended, with this machine's kernel and CPUs.
    init(
        command: [String], started: Date, seconds: Double, status: Int32, config: String, system: SystemRoot,
        modules: [SampledModule], skipped: [(module: String, reason: String)], warnings: [String], notes: [String]
    ) {
        var uts = utsname()
        uname(&uts)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        runFormat = Self.version
        self.command = command
        self.started = formatter.string(from: started)
        self.seconds = seconds
        exitStatus = Int(status)
        kernelRelease = withUnsafeBytes(of: uts.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        cpuModel = system.cpuModel
        cpus = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        procRoot = system.isReplay ? system.root : nil
        self.config = config
        self.modules = modules.map { m in
            Module(
                name: m.name, intervalSeconds: Double(m.intervalNanoseconds) / 1e9,
                samples: Int(m.counters.samples.load(ordering: .relaxed)),
                missedTicks: Int(m.counters.missed.load(ordering: .relaxed)),
                failedSamples: Int(m.counters.failed.load(ordering: .relaxed)), failedWrites: Int(m.writeErrors))
        }
        self.skipped = skipped.map { Skipped(module: $0.module, reason: $0.reason) }
        self.warnings = warnings
        self.notes = notes
    }

    /// The file's text: every key, in the order above, None where there is no value.
    var value: PyValue {
        get throws { try PyValueEncoder.encode(self) }
    }

    /// DIR/run.json, read through the directory's descriptor; no key when there is none or it is no JSON object.
    public static func read(_ run: TestDirectory) -> RunMetadata {
        guard case .success(let bytes) = run.read(fileName) else { return RunMetadata() }
        return (try? JSONDecoder().decode(RunMetadata.self, from: Data(bytes))) ?? RunMetadata()
    }

    /// run.json's keys as JSONSerialization gives them (a run.json made by hand, in a test).
    public init(json: [String: Any]) {
        let data = (try? JSONSerialization.data(withJSONObject: json)) ?? Data()
        self = (try? JSONDecoder().decode(RunMetadata.self, from: data)) ?? RunMetadata()
    }
}
