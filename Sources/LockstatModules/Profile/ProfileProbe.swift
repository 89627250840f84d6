import CLockstat
import LockstatCore
import SystemPackage

extension ProfileModule {
    /// perf's permission, system-wide sampling, the PMU, and whether kernel symbols show.
    public func probe(_ system: SystemRoot) -> [ProbeCheck] {
        var checks = [SystemFacts.perfPermission(system)]
        let cpuClock = ls_perf_probe_cpu_clock()
        checks.append(
            ProbeCheck(
                name: "perf_event_open", ok: cpuClock == 0,
                detail: cpuClock == 0
                    ? "system-wide sampling allowed"
                    : "system-wide cpu-clock refused: \(SystemPackage.Errno(rawValue: cpuClock).description)",
                fix: "run as root, or set /proc/sys/kernel/perf_event_paranoid to -1"))
        let cycles = ls_perf_probe_cycles()
        checks.append(
            ProbeCheck(
                name: "PMU", ok: true,
                detail: cycles == 0
                    ? "hardware cycles counter: samples at precise points"
                    : "no hardware PMU (\(SystemPackage.Errno(rawValue: cycles).description)): cpu-clock only — a timer interrupt, not an NMI, so time spent with interrupts off is charged to the code that re-enables them (docs/profile.md: How exact is a cpu-clock profile?)"
            ))
        let restrict = SystemFacts.value(system, "/proc/sys/kernel/kptr_restrict") ?? "?"
        let symbols: Bool = {
            guard case .success(let text) = FileReader.readText(system.path("/proc/kallsyms")) else { return false }
            return text.prefix(64).split(separator: " ").first.map { $0.contains { $0 != "0" } } ?? false
        }()
        checks.append(
            ProbeCheck(
                name: "kernel symbols", ok: symbols,
                detail: "kptr_restrict \(restrict); /proc/kallsyms "
                    + (symbols ? "shows addresses" : "shows zeros to this user"),
                fix: "run as root, or set /proc/sys/kernel/kptr_restrict to 0"))
        return checks
    }
}
