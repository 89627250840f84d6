import Foundation
import LockstatCore

/// Issue 16's figures for big machines: synthetic /proc/stat of N CPUs and /proc/diskstats of N
/// disks, 5 samples a second apart, written as a run writes them; then `lockstat parse` and
/// `lockstat graph` as child processes: wall time, peak RSS, SVG files.
enum BigMachineBench {
    static func run(scratch: String) throws {
        print("\n## Big machines: synthetic snapshots, 5 samples (parse and graph as child processes)\n")
        print("| snapshot | rows | parse s | parse peak RSS MB | graph s | graph peak RSS MB | SVG files | SVG MB |")
        print("|---|---|---|---|---|---|---|---|")
        for (module, sizes) in [("stat", [10_000, 100_000]), ("diskstats", [10_000, 100_000])] {
            for n in sizes {
                let dir = "\(scratch)/big-\(module)-\(n)"
                try generate(dir, module: module, rows: n)
                let parse = try LongRunBench.measured([LongRunBench.lockstat, "parse", dir])
                let graph = try LongRunBench.measured([LongRunBench.lockstat, "graph", dir])
                let svgs = try FileManager.default.contentsOfDirectory(atPath: dir).filter { $0.hasSuffix(".svg") }
                let bytes = svgs.reduce(0.0) {
                    $0
                        + Double(
                            (try? FileManager.default.attributesOfItem(atPath: dir + "/" + $1)[.size] as? UInt64) ?? 0)
                }
                print(
                    String(
                        format: "| /proc/%@ | %d | %.2f | %.0f | %.2f | %.0f | %d | %.2f |", module, n, parse.seconds,
                        parse.peakMB,
                        graph.seconds, graph.peakMB, svgs.count, bytes / 1e6))
                try? FileManager.default.removeItem(atPath: dir)
            }
        }
    }

    /// CPU c busy c mod 100 % of its ticks; disk d doing (d mod 50) + 1 reads a second.
    static func snapshot(_ module: String, rows: Int, at t: Int) -> String {
        var text = ""
        if module == "stat" {
            text = "cpu  0 0 0 0 0 0 0 0 0 0\n"
            for c in 0..<rows { text += "cpu\(c) \(t * (c % 100)) 0 0 \(t * (100 - c % 100)) 0 0 0 0 0 0\n" }
            return text + "ctxt 1\nprocesses 1\nprocs_running 1\nprocs_blocked 0\n"
        }
        for d in 0..<rows {
            let n = t * (d % 50 + 1)
            text += "   8 \(d) sd\(d) \(n) 0 \(n * 8) \(n) 0 0 0 0 0 \(n * 3) \(n) 0 0 0 0 0 0\n"
        }
        return text
    }

    static func generate(_ dir: String, module: String, rows: Int) throws {
        try makeDirectories(dir + "/samples")
        try Config(modules: [module], interval: 1).rendered().write(
            toFile: dir + "/lockstat.config", atomically: false, encoding: .utf8)
        let writer = try RawLogWriter(path: "\(dir)/samples/\(module).log")
        writer.append(
            kind: .header, tick: 0, time: 0,
            text: "module \(module)\nformat \(RawLogFormat.version)\ninterval_ns 1000000000\nstart_ns 0\n")
        for t in 0..<5 {
            writer.append(
                kind: .snapshot, tick: UInt64(t), time: UInt64(t) * 1_000_000_000,
                text: snapshot(module, rows: rows, at: t))
        }
        writer.finish()
    }
}
