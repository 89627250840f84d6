import Foundation
import LockstatCore

/// Where the lock:contention_begin/end tracepoints are described (tracefs), and their ids and
/// field offsets. Mounts tracefs at /sys/kernel/tracing when it is not mounted and lockstat is
/// root on the real machine.
struct Tracefs {
    let root: String

    static let candidates = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"]

    static func locate(_ system: SystemRoot) -> Tracefs? {
        for c in candidates where FileReader.check(system.path(c + "/events/lock/contention_begin/id")) == nil {
            return Tracefs(root: system.path(c))
        }
        if system.root.isEmpty, geteuid() == 0, mount("nodev", candidates[0], "tracefs", 0, nil) == 0,
           FileReader.check(candidates[0] + "/events/lock/contention_begin/id") == nil {
            return Tracefs(root: candidates[0])
        }
        return nil
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
