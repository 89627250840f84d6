import Foundation
import LockstatCore

/// Where the lock:contention_begin/end tracepoints are described (tracefs), and their ids and
/// field offsets. Finding it has no side effects; presampling mounts tracefs at
/// /sys/kernel/tracing when it is not mounted and lockstat is root on the real machine.
struct Tracefs {
    let root: String

    static let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    static func locate(_ system: SystemRoot) -> Tracefs? {
        for c in candidates where FileReader.check(system.path(c + "/events/lock/contention_begin/id")) == nil {
            return Tracefs(root: system.path(c))
        }
        return nil
    }

    /// Whether presampling may mount tracefs itself: root, the live machine, nothing mounted at
    /// its mount point yet.
    static func mountable(_ system: SystemRoot) -> Bool {
        guard !system.isReplay, geteuid() == 0 else { return false }
        var st = stat()
        guard stat(candidates[0], &st) == 0, st.st_mode & S_IFMT == S_IFDIR else { return false }
        let mounts = (try? FileReader.readText("/proc/self/mounts").get()) ?? ""
        return !mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(2).first == "tracefs" }
    }

    /// presampling's: tracefs found, or mounted and then found.
    static func locateOrMount(_ system: SystemRoot) -> Tracefs? {
        if let found = locate(system) { return found }
        guard mountable(system), mount("nodev", candidates[0], "tracefs", 0, nil) == 0 else { return nil }
        return locate(system)
    }

    func id(_ event: String) -> UInt16? {
        guard case .success(let text) = FileReader.readText(root + "/events/lock/\(event)/id") else { return nil }
        return UInt16(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    func format(_ event: String) -> String {
        guard case .success(let text) = FileReader.readText(root + "/events/lock/\(event)/format") else { return "" }
        return text
    }

    /// `field:TYPE NAME; offset:N; ...` → N.
    static func offset(of field: String, in format: String) -> Int? {
        for line in format.split(separator: "\n") where line.contains(" \(field);") {
            guard let r = line.range(of: "offset:") else { continue }
            return Int(line[r.upperBound...].prefix { $0.isNumber })
        }
        return nil
    }
}
