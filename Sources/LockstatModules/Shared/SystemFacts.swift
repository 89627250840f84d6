import Foundation
import LockstatCore

/// Facts of the running system that modules' probes (`lockstat doctor`) share.
enum SystemFacts {
    /// A /proc or /sys file lockstat reads, and why it reads it.
    static func readable(_ system: SystemRoot, _ kernelPath: String, why: String) -> ProbeCheck {
        let path = system.path(kernelPath)
        guard let failure = FileReader.check(path) else {
            return ProbeCheck(name: kernelPath, ok: true, detail: "readable")
        }
        let fix = failure == .permissionDenied ? "run lockstat as root (sudo)" : nil
        return ProbeCheck(name: kernelPath, ok: false, detail: "\(failure.reason) (\(why))", fix: fix)
    }

    /// Root, CAP_PERFMON or CAP_SYS_ADMIN, or a perf_event_paranoid that lets everyone in.
    static func perfPermission(_ system: SystemRoot) -> ProbeCheck {
        let paranoid = Int(value(system, "/proc/sys/kernel/perf_event_paranoid") ?? "") ?? 2
        let caps = UInt64(statusField("CapEff") ?? "0", radix: 16) ?? 0
        let perfmon = caps & (1 << 38) != 0 || caps & (1 << 21) != 0
        let ok = geteuid() == 0 || perfmon || paranoid <= -1
        let who = geteuid() == 0 ? "root" : (perfmon ? "CAP_PERFMON" : "uid \(geteuid())")
        return ProbeCheck(
            name: "permission", ok: ok, detail: "\(who), perf_event_paranoid \(paranoid)",
            fix: "needs root or perf_event_paranoid <= -1 (sysctl kernel.perf_event_paranoid=-1), or CAP_PERFMON")
    }

    static var release: String {
        var u = utsname()
        uname(&u)
        return withUnsafeBytes(of: u.release) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
    }

    /// Where the running kernel's config says something about `option`, and what.
    static func kernelConfig(_ system: SystemRoot, _ option: String) -> (source: String?, setting: String?) {
        var text: String?
        var source: String?
        if FileReader.check(system.path("/proc/config.gz")) == nil,
            let out = try? run("/bin/gzip", ["-dc", system.path("/proc/config.gz")])
        {
            (text, source) = (out, "/proc/config.gz")
        } else if case .success(let t) = FileReader.readText("/boot/config-\(release)") {
            (text, source) = (t, "/boot/config-\(release)")
        }
        let line = text?.split(separator: "\n").first { $0.hasPrefix(option + "=") || $0 == "# \(option) is not set" }
        return (source, line.map(String.init) ?? (text == nil ? nil : "\(option) absent"))
    }

    static var mounts: [(point: String, type: String)] {
        guard case .success(let text) = FileReader.readText("/proc/self/mounts") else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            return f.count > 2 ? (String(f[1]), String(f[2])) : nil
        }
    }

    static func value(_ system: SystemRoot, _ kernelPath: String) -> String? {
        guard case .success(let text) = FileReader.readText(system.path(kernelPath)) else { return nil }
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    static func statusField(_ name: String) -> String? {
        guard case .success(let text) = FileReader.readText("/proc/self/status") else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(name + ":") }.map {
            $0.split(separator: "\t").last.map(String.init) ?? ""
        }
    }

    /// What a probe printed, stdout then stderr.
    static func run(_ executable: String, _ arguments: [String]) throws -> String {
        let r = try ScriptProcess.run(executable, arguments)
        return String(decoding: r.stdout, as: UTF8.self) + r.stderr
    }
}
