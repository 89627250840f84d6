import CLockstat
import Foundation
import LockstatCore

extension ContentionModule {
    /// The kernel's version, the tracepoints, perf's permission, lockdown, and the mode `auto` gets.
    public func probe(_ system: SystemRoot) -> [ProbeCheck] {
        let release = SystemFacts.release
        let version = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        let recent = version.count == 2 && (version[0], version[1]) >= Self.firstKernelWithTracepoints
        var checks = [
            ProbeCheck(
                name: "kernel", ok: recent,
                detail: "\(release)\(recent ? "" : ": older than 5.19, no lock:contention tracepoints")",
                fix: "a 5.19 or later kernel")
        ]
        let found = Tracefs.candidates.first {
            FileReader.check(system.path($0 + "/events/lock/contention_begin/id")) == nil
        }
        let mounted = SystemFacts.mounts.contains { $0.type == "tracefs" }
        let tracepointsBuilt = SystemFacts.kernelConfig(system, "CONFIG_TRACEPOINTS").setting == "CONFIG_TRACEPOINTS=y"
        if let found {
            checks.append(
                ProbeCheck(name: "tracepoints", ok: true, detail: "lock:contention_begin/end in \(found)/events/lock"))
        } else if !mounted && recent && tracepointsBuilt && geteuid() == 0 {
            // Mounting tracefs is what the module does at presampling when it may: as root.
            checks.append(
                ProbeCheck(
                    name: "tracepoints", ok: true,
                    detail:
                        "tracefs is not mounted; CONFIG_TRACEPOINTS=y, and lockstat mounts it at /sys/kernel/tracing as root"
                ))
        } else {
            checks.append(
                ProbeCheck(
                    name: "tracepoints", ok: false,
                    detail: mounted
                        ? "tracefs is mounted but has no events/lock/contention_begin" : "tracefs is not mounted",
                    fix: mounted
                        ? "a kernel with CONFIG_TRACEPOINTS and lock tracepoints (5.19+)"
                        : "mount -t tracefs nodev /sys/kernel/tracing (as root)"))
        }
        checks.append(SystemFacts.perfPermission(system))
        checks.append(Self.lockdown(system))
        checks.append(CgroupHierarchy.check(system))
        // contention.holds all's fentry programs: opt-in, so their refusal is no failure.
        if geteuid() == 0, Self.bpfRefusal(system) == nil {
            let refusal = Self.fentryRefusal(system)
            checks.append(
                ProbeCheck(
                    name: "fentry", ok: true,
                    detail: refusal.map { "refused (\($0)): contention.holds all records holds under contention only" }
                        ?? "fentry programs load (\(Self.fentryProbeFunction))"))
        } else {
            checks.append(ProbeCheck(name: "fentry", ok: true, detail: "not probed: loading BPF needs root"))
        }
        // Which mode `contention.mode auto` gets here; ring mode is the fallback, not a failure.
        checks.append(
            ProbeCheck(name: "mode", ok: true, detail: "contention.mode auto runs " + Self.modeVerdict(system)))
        return checks + LockNames.checks(system)
    }

    static func lockdown(_ system: SystemRoot) -> ProbeCheck {
        guard let state = SystemFacts.value(system, "/sys/kernel/security/lockdown") else {
            return ProbeCheck(name: "lockdown", ok: true, detail: "no lockdown LSM")
        }
        let confidentiality = state.contains("[confidentiality]")
        return ProbeCheck(
            name: "lockdown", ok: !confidentiality, detail: state,
            fix: "kernel lockdown=confidentiality forbids tracing kernel data; boot without it")
    }
}
