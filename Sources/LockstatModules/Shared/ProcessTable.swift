import Foundation
import LockstatCore

/// What /proc says about the running tasks, for the perf-event modules: the kernel's records
/// name only what happens while the events are on, so what was there before comes from here.
enum TaskNames {
    /// `tid name` lines for every task now (tasks that exited by then are missing).
    static func read(_ system: SystemRoot) -> String {
        var lines = [(key: String, value: String)]()
        let proc = system.path("/proc")
        for pid in processIDs(system) {
            for tid in (try? FileManager.default.contentsOfDirectory(atPath: "\(proc)/\(pid)/task")) ?? [] {
                if case .success(let comm) = FileReader.readText("\(proc)/\(pid)/task/\(tid)/comm") {
                    lines.append((tid, comm.trimmingCharacters(in: .whitespacesAndNewlines)))
                }
            }
        }
        return KeyValueLines.text(lines)
    }

    static func processIDs(_ system: SystemRoot) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: system.path("/proc"))) ?? []).filter {
            $0.first?.isNumber == true
        }
    }
}

/// Online CPUs from /sys/devices/system/cpu/online ("0-3,6").
public func onlineCPUs(_ system: SystemRoot) -> [Int32] {
    guard case .success(let text) = FileReader.readText(system.path("/sys/devices/system/cpu/online")) else {
        return [0]
    }
    return text.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: ",").flatMap { part -> [Int32] in
        let ends = part.split(separator: "-").compactMap { Int32($0) }
        return ends.count == 2 ? Array(ends[0]...ends[1]) : ends
    }
}
