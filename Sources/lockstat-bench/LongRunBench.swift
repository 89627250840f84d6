import Foundation
import LockstatCore
import LockstatModules

/// Issue 16's figures for long runs: a test directory of the default config (stat + diskstats
/// every 0.1 s) for HOURS, its raw logs written as a run writes them (batched) from this
/// machine's own files with advancing counters; then `lockstat parse` and `lockstat graph` as
/// child processes, their wall time and peak RSS (GNU time's %M).
enum LongRunBench {
    /// The `lockstat` built beside this benchmark.
    static var lockstat: String {
        URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("lockstat")
            .path
    }

    static func run(scratch: String, hours: [Double]) throws {
        print("\n## Long runs: the default config for hours (generated raw logs; parse and graph as child processes)\n")
        print(
            "| run | ticks | raw logs MB | snapshot text MB | parse s | parse peak RSS MB | graph s | graph peak RSS MB | samples.pickle MB | samples.json MB |"
        )
        print("|---|---|---|---|---|---|---|---|---|---|")
        for h in hours {
            let dir = "\(scratch)/long-\(h)h"
            let (raw, text, ticks) = try generate(dir, hours: h)
            let parse = try measured([lockstat, "parse", dir])
            let graph = try measured([lockstat, "graph", dir])
            func mb(_ name: String) -> Double {
                Double((try? FileManager.default.attributesOfItem(atPath: dir + "/" + name)[.size] as? UInt64) ?? 0)
                    / 1e6
            }
            print(
                String(
                    format: "| %.0f h | %d | %.1f | %.0f | %.1f | %.0f | %.1f | %.0f | %.0f | %.0f |", h, ticks,
                    raw / 1e6, text / 1e6,
                    parse.seconds, parse.peakMB, graph.seconds, graph.peakMB, mb("samples.pickle"), mb("samples.json")))
            try? FileManager.default.removeItem(atPath: dir)
        }
    }

    /// The directory with its config and two raw logs; returns their bytes, the snapshots' bytes and the ticks.
    /// Not `batched`: each snapshot is a plain record of its own (kind 1), as older versions wrote them.
    static func generate(_ dir: String, hours: Double, batched: Bool = true) throws -> (Double, Double, Int) {
        try makeDirectories(dir + "/samples")
        let config = Config(modules: ["stat", "diskstats"], interval: 0.1)
        try config.rendered().write(toFile: dir + "/lockstat.config", atomically: false, encoding: .utf8)
        let ticks = Int(hours * 36_000)
        var raw = 0.0
        var text = 0.0
        for (module, file) in [("stat", "/proc/stat"), ("diskstats", "/proc/diskstats")] {
            guard case .success(let source) = FileReader.readText(file) else {
                throw LockstatError("cannot read \(file)")
            }
            let path = "\(dir)/samples/\(module).log"
            let writer = try RawLogWriter(path: path)
            writer.append(
                kind: .header, tick: 0, time: 0,
                text: "module \(module)\nformat \(RawLogFormat.version)\ninterval_ns 100000000\nstart_ns 0\n")
            if batched { writer.startBatching() }
            let lines = source.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: false) }
            for i in 0..<ticks {
                // Counters advance by a different step per column (stat's from its 3rd, diskstats' from its 1st).
                let snapshot =
                    lines.map { tokens in
                        tokens.enumerated().map { k, t in
                            k >= 3 && !t.isEmpty
                                ? (UInt64(t).map { String($0 + UInt64(i * (k + 1))) } ?? String(t)) : String(t)
                        }
                        .joined(separator: " ")
                    }.joined(separator: "\n") + "\n"
                text += Double(snapshot.utf8.count)
                writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i) * 100_000_000, text: snapshot)
            }
            writer.finish()
            raw += Double((try FileManager.default.attributesOfItem(atPath: path)[.size] as? UInt64) ?? 0)
        }
        return (raw, text, ticks)
    }

    static func measured(_ command: [String]) throws -> (seconds: Double, peakMB: Double) {
        let start = Date()
        let r = try ScriptProcess.run("/usr/bin/time", ["-f", "peak_kb %M"] + command)
        guard r.status == 0, let line = r.stderr.split(separator: "\n").last(where: { $0.hasPrefix("peak_kb ") }),
            let kb = Double(line.dropFirst(8))
        else { throw LockstatError("\(command.joined(separator: " ")): \(r.stderr)") }
        return (Date().timeIntervalSince(start), kb / 1024)
    }
}
