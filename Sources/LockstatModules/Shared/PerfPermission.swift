import Foundation
import LockstatCore

/// Whether this user may open system-wide perf events (perf_event_open(2), "perf_event related
/// configuration files"): root, CAP_PERFMON (5.8+) or CAP_SYS_ADMIN, or a perf_event_paranoid
/// of -1 — the same rule doctor states.
enum PerfPermission {
    static func refusal(_ system: SystemRoot) -> String? {
        // Unreadable: 2, the kernel's default.
        let text = try? FileReader.readText(system.path("/proc/sys/kernel/perf_event_paranoid")).get()
        let paranoid = Int(text?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 2
        return geteuid() != 0 && !hasPerfmon && paranoid > -1 ? "needs root or perf_event_paranoid <= -1" : nil
    }

    /// CAP_PERFMON (38) or CAP_SYS_ADMIN (21) in this process's effective set.
    static var hasPerfmon: Bool {
        guard case .success(let text) = FileReader.readText("/proc/self/status"),
            let line = text.split(separator: "\n").first(where: { $0.hasPrefix("CapEff:") }),
            let caps = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16)
        else { return false }
        return caps & (1 << 38) != 0 || caps & (1 << 21) != 0
    }
}
