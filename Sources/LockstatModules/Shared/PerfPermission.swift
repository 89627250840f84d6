import Foundation
import LockstatCore

/// Whether this user may open system-wide perf events (perf_event_open(2), "perf_event related
/// configuration files"): root, or a perf_event_paranoid of -1.
enum PerfPermission {
    static func refusal(_ system: SystemRoot) -> String? {
        let paranoid = Int((try? String(contentsOfFile: system.path("/proc/sys/kernel/perf_event_paranoid"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "2") ?? 2
        return geteuid() != 0 && paranoid > -1 ? "needs root or perf_event_paranoid <= -1" : nil
    }
}
