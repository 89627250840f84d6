import SystemPackage
import CLockstat
import Foundation
import LockstatCore

/// The facts `lockstat doctor` reports, read from the running system.
struct SystemProbe {
    let system: SystemRoot
    let modules: ModuleSet
    typealias Check = Doctor.Check

    func readable(_ kernelPath: String, why: String) -> Check {
        let path = system.path(kernelPath)
        guard let failure = FileReader.check(path) else { return Check(name: kernelPath, ok: true, detail: "readable") }
        let fix = failure == .permissionDenied ? "run lockstat as root (sudo)" : nil
        return Check(name: kernelPath, ok: false, detail: "\(failure.reason) (\(why))", fix: fix)
    }

    func stat() -> [Check] { [readable("/proc/stat", why: "CPU time")] }

    func diskstats() -> [Check] {
        var check = readable("/proc/diskstats", why: "disk I/O")
        if check.ok, case .success(let text) = FileReader.readText(system.path("/proc/diskstats")),
           let first = text.split(separator: "\n").first {
            let fields = first.split(separator: " ").count
            let layout = [7: "2.6.0–2.6.24 partitions", 14: "2.6.25–4.17: no discard or flush columns",
                          18: "4.18–5.4: discards, no flushes", 20: "5.5+: discards and flushes"][fields] ?? "unknown"
            check.detail += "; \(fields)-field lines (\(layout))"
        }
        return [check]
    }

    func lockStat() -> [Check] {
        let path = system.path("/proc/lock_stat")
        switch FileReader.check(path) {
        case nil:
            return [Check(name: "/proc/lock_stat", ok: true, detail: "present and readable")]
        case .permissionDenied:
            return [Check(name: "/proc/lock_stat", ok: false, detail: "present, readable by root only", fix: "run lockstat as root (sudo)")]
        default:
            let (source, setting) = kernelConfig("CONFIG_LOCK_STAT")
            let detail = "absent: the running kernel \(release) is built without CONFIG_LOCK_STAT" +
                (source.map { " (\($0) says \(setting ?? "nothing"))" } ?? " (no /proc/config.gz or /boot/config-\(release) to confirm)")
            return [Check(name: "/proc/lock_stat", ok: false, detail: detail,
                          fix: "build a kernel with CONFIG_LOCK_STAT=y, which selects CONFIG_LOCKDEP, CONFIG_DEBUG_SPINLOCK, " +
                               "CONFIG_DEBUG_MUTEXES and CONFIG_DEBUG_LOCK_ALLOC: lockdep checks every lock operation, so locking gets " +
                               "several times slower and the kernel bigger; keep that kernel for measuring " +
                               "(make tinyconfig plus LOCK_STAT is a minimal one for a VM)")]
        }
    }

    func contention() -> [Check] {
        let version = release.split(separator: ".").prefix(2).compactMap { Int($0.prefix { $0.isNumber }) }
        let recent = version.count == 2 && (version[0], version[1]) >= (5, 19)
        var checks = [Check(name: "kernel", ok: recent, detail: "\(release)\(recent ? "" : ": older than 5.19, no lock:contention tracepoints")",
                            fix: "a 5.19 or later kernel")]
        let roots = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]
        let found = roots.first { FileReader.check(system.path($0 + "/events/lock/contention_begin/id")) == nil }
        let mounted = mounts.contains { $0.type == "tracefs" }
        let tracepointsBuilt = kernelConfig("CONFIG_TRACEPOINTS").setting == "CONFIG_TRACEPOINTS=y"
        if let found {
            checks.append(Check(name: "tracepoints", ok: true, detail: "lock:contention_begin/end in \(found)/events/lock"))
        } else if !mounted && recent && tracepointsBuilt && geteuid() == 0 {
            // Mounting tracefs is what the module does at presampling when it may: as root.
            checks.append(Check(name: "tracepoints", ok: true,
                                detail: "tracefs is not mounted; CONFIG_TRACEPOINTS=y, and lockstat mounts it at /sys/kernel/tracing as root"))
        } else {
            checks.append(Check(name: "tracepoints", ok: false,
                                detail: mounted ? "tracefs is mounted but has no events/lock/contention_begin" : "tracefs is not mounted",
                                fix: mounted ? "a kernel with CONFIG_TRACEPOINTS and lock tracepoints (5.19+)" : "mount -t tracefs nodev /sys/kernel/tracing (as root)"))
        }
        checks.append(permission())
        checks.append(lockdown())
        // Which mode `contention.mode auto` gets here; ring mode is the fallback, not a failure.
        checks.append(Check(name: "mode", ok: true, detail: "contention.mode auto runs " + ContentionModule.modeVerdict(system)))
        return checks
    }

    func profiler() -> [Check] {
        var checks = [permission()]
        let cpuClock = ls_perf_probe_cpu_clock()
        checks.append(Check(name: "perf_event_open", ok: cpuClock == 0,
                            detail: cpuClock == 0 ? "system-wide sampling allowed" : "system-wide cpu-clock refused: \(SystemPackage.Errno(rawValue: cpuClock).description)",
                            fix: "run as root, or set /proc/sys/kernel/perf_event_paranoid to -1"))
        let cycles = ls_perf_probe_cycles()
        checks.append(Check(name: "PMU", ok: true, detail: cycles == 0 ? "hardware cycles counter: samples at precise points" :
                                "no hardware PMU (\(SystemPackage.Errno(rawValue: cycles).description)): cpu-clock only — a timer interrupt, not an NMI, so time spent with interrupts off is charged to the code that re-enables them (README: How exact is a cpu-clock profile?)"))
        let restrict = value("/proc/sys/kernel/kptr_restrict") ?? "?"
        let symbols: Bool = {
            guard case .success(let text) = FileReader.readText(system.path("/proc/kallsyms")) else { return false }
            return text.prefix(64).split(separator: " ").first.map { $0.contains { $0 != "0" } } ?? false
        }()
        checks.append(Check(name: "kernel symbols", ok: symbols,
                            detail: "kptr_restrict \(restrict); /proc/kallsyms " + (symbols ? "shows addresses" : "shows zeros to this user"),
                            fix: "run as root, or set /proc/sys/kernel/kptr_restrict to 0"))
        return checks
    }

    func dropIns() -> [Check] {
        let python = Program.resolve("python3", path: ProcessInfo.processInfo.environment["PATH"])
        var version = "not found"
        if let python, let out = try? run(python, ["--version"]) { version = out.trimmingCharacters(in: .whitespacesAndNewlines) }
        return [Check(name: "python3", ok: python != nil, detail: python.map { "\(version) at \($0)" } ?? "not found on PATH",
                      fix: "apt-get install python3"),
                Check(name: "module path", ok: true, detail: modules.searched.joined(separator: ", "))]
    }

    /// One drop-in: can lockstat run it (file safe, interpreter there)?
    func dropIn(_ module: ScriptModule) -> [Check] {
        var checks = [Check]()
        do {
            try ModuleSet.refuseIfOthersMayWrite(module.file, what: "module \(module.name)")
            if let reason = ScriptModule.notRegular(module.file) { throw LockstatError("module \(module.name): refused: \(reason)") }
            checks.append(Check(name: module.file, ok: true, detail: module.kind == .python ? "Python 3 module" : "executable module"))
        } catch let e as LockstatError {
            checks.append(Check(name: module.file, ok: false, detail: "would be refused", fix: e.message))
        } catch {}
        // A file that is no regular file already said why; the interpreter check would only repeat it.
        if ScriptModule.notRegular(module.file) == nil, let reason = module.unavailableReason(system) {
            checks.append(Check(name: "interpreter", ok: false, detail: reason, fix: "apt-get install python3"))
        }
        return checks
    }

    /// Root, CAP_PERFMON or CAP_SYS_ADMIN, or a perf_event_paranoid that lets everyone in.
    func permission() -> Check {
        let paranoid = Int(value("/proc/sys/kernel/perf_event_paranoid") ?? "") ?? 2
        let caps = UInt64(statusField("CapEff") ?? "0", radix: 16) ?? 0
        let perfmon = caps & (1 << 38) != 0 || caps & (1 << 21) != 0
        let ok = geteuid() == 0 || perfmon || paranoid <= -1
        let who = geteuid() == 0 ? "root" : (perfmon ? "CAP_PERFMON" : "uid \(geteuid())")
        return Check(name: "permission", ok: ok, detail: "\(who), perf_event_paranoid \(paranoid)",
                     fix: "needs root or perf_event_paranoid <= -1 (sysctl kernel.perf_event_paranoid=-1), or CAP_PERFMON")
    }

    func lockdown() -> Check {
        guard let state = value("/sys/kernel/security/lockdown") else {
            return Check(name: "lockdown", ok: true, detail: "no lockdown LSM")
        }
        let confidentiality = state.contains("[confidentiality]")
        return Check(name: "lockdown", ok: !confidentiality, detail: state,
                     fix: "kernel lockdown=confidentiality forbids tracing kernel data; boot without it")
    }

    var release: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    /// Where the running kernel's config says something about `option`, and what.
    func kernelConfig(_ option: String) -> (source: String?, setting: String?) {
        var text: String?
        var source: String?
        if FileReader.check(system.path("/proc/config.gz")) == nil, let out = try? run("/bin/gzip", ["-dc", system.path("/proc/config.gz")]) {
            (text, source) = (out, "/proc/config.gz")
        } else if case .success(let t) = FileReader.readText("/boot/config-\(release)") {
            (text, source) = (t, "/boot/config-\(release)")
        }
        let line = text?.split(separator: "\n").first { $0.hasPrefix(option + "=") || $0 == "# \(option) is not set" }
        return (source, line.map(String.init) ?? (text == nil ? nil : "\(option) absent"))
    }

    var mounts: [(point: String, type: String)] {
        guard case .success(let text) = FileReader.readText("/proc/self/mounts") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 2 ? (String(f[1]), String(f[2])) : nil
        }
    }

    func value(_ kernelPath: String) -> String? {
        guard case .success(let text) = FileReader.readText(system.path(kernelPath)) else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func statusField(_ name: String) -> String? {
        guard case .success(let text) = FileReader.readText("/proc/self/status") else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map { $0.split(separator: "\t").last.map(String.init) ?? "" }
    }

    /// What a probe printed, stdout then stderr.
    func run(_ executable: String, _ arguments: [String]) throws -> String {
        let r = try ScriptProcess.run(executable, arguments)
        return String(decoding: r.stdout, as: UTF8.self) + r.stderr
    }
}
