import Foundation
import LockstatCore
import LockstatModules

/// The contention module at production rates, side by side in one run with the tools users
/// would otherwise reach for: each storm's throughput untraced, under lockstat bpf, lockstat
/// ring, `perf lock record -a` and a bpftrace in-kernel aggregation (the peer), as ratios to
/// untraced; contentions kept and lost; bytes stored per second.
enum ContentionStormBench {
    struct Figures {
        var ops: Double
        var kept: Double?
        var lost: String
        var bytesPerSecond: Double?
    }

    static func run(scratch: String, seconds: Double, rounds: Int) throws {
        let tools = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let futex = try compile("futex-storm.c", scratch)
        let mkdir = try compile("mkdir-storm.c", scratch)
        try FileManager.default.createDirectory(atPath: scratch + "/storm", withIntermediateDirectories: true)
        let storms: [(name: String, command: [String])] = [
            ("futex storm (4 threads FUTEX_WAIT on one word)", [futex, "\(seconds)"]),
            ("mkdir/rmdir storm (4 processes, one directory)", [mkdir, scratch + "/storm", "\(seconds)"]),
        ]
        print("\n## contention at production rates (\(Int(seconds)) s per run, \(rounds) rounds, system-wide)\n")
        print("| storm | tool | throughput, of untraced | contentions kept | lost | stored, bytes/s |")
        print("|---|---|---|---|---|---|")
        for storm in storms {
            var rows = [String: [Figures]]()
            let order = [
                "untraced", "lockstat bpf", "lockstat ring", "perf lock record -a",
                "bpftrace (per-tid start, stats by kstack)",
            ]
            for _ in 0..<rounds {
                rows["untraced", default: []].append(
                    Figures(ops: try ops(storm.command), kept: nil, lost: "", bytesPerSecond: nil))
                for mode in ["bpf", "ring"] {
                    rows["lockstat \(mode)", default: []].append(
                        try lockstat(tools, mode, storm.command, scratch, seconds))
                }
                rows["perf lock record -a", default: []].append(try perf(storm.command, scratch, seconds))
                rows["bpftrace (per-tid start, stats by kstack)", default: []].append(try bpftrace(storm.command))
            }
            let base = rows["untraced"]!.map(\.ops).reduce(0, +) / Double(rounds)
            for tool in order {
                let f = rows[tool]!
                let ratios = f.map { $0.ops / base }
                let kept = f.compactMap(\.kept)
                let bytes = f.compactMap(\.bytesPerSecond)
                print(
                    "| \(tool == "untraced" ? storm.name : "") | \(tool) | \(range(ratios, "%.2f")) | \(kept.isEmpty ? "—" : range(kept, "%.0f")) | "
                        + "\(f.map(\.lost).filter { !$0.isEmpty }.joined(separator: ", ")) | \(bytes.isEmpty ? "—" : range(bytes, "%.0f")) |"
                )
            }
        }
    }

    /// contention.wakers' cost: each storm's throughput untraced, under bpf mode with every kernel
    /// stack walked (LOCKSTAT_TEST_WALK_EVERY_STACK: none found by its call path, as before
    /// paths), with `wakers no` and with `wakers yes`, rotated round by round (the load moves
    /// between rounds, a rotation sees each the same); per round the ratios, then medians and the
    /// rounds' spread; then the BPF time per recorded contention (`cost.bpf_ns / recorded`) from one
    /// more run of each with `contention.bpf_time yes`, apart: counting it slows the storm.
    static func wakers(scratch: String, seconds: Double, rounds: Int) throws {
        let tools = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let futex = try compile("futex-storm.c", scratch)
        let mkdir = try compile("mkdir-storm.c", scratch)
        try FileManager.default.createDirectory(atPath: scratch + "/storm", withIntermediateDirectories: true)
        let storms: [(name: String, command: [String])] = [
            ("mkdir/rmdir storm (4 processes, one directory)", [mkdir, scratch + "/storm", "\(seconds)", "4"]),
            ("futex storm (4 threads FUTEX_WAIT on one word)", [futex, "\(seconds)"]),
        ]
        for storm in storms {
            print("\n## contention.wakers: \(storm.name), \(seconds) s a run, scope program\n")
            print("| round | untraced ops | walks, no paths | wakers no | wakers yes | + owner stacks | walks / untraced "
                + "| no / untraced | yes / untraced | yes / no | + owner stacks / no |")
            print("|---|---|---|---|---|---|---|---|---|---|---|")
            var ratios: [String: [Double]] = [:]
            for round in 1...rounds {
                let untraced = try ops(storm.command)
                let walks = try wakerRun(tools, "no", storm.command, scratch, walkEveryStack: true)
                let no = try wakerRun(tools, "no", storm.command, scratch)
                let yes = try wakerRun(tools, "yes", storm.command, scratch)
                let owners = try wakerRun(tools, "yes", storm.command, scratch, ownerStacks: true)
                let r = [
                    "walks": walks.ops / untraced, "no": no.ops / untraced, "yes": yes.ops / untraced, "yes/no": yes.ops / no.ops,
                    "owners/no": owners.ops / no.ops,
                ]
                for (k, v) in r { ratios[k, default: []].append(v) }
                print(
                    "| \(round) | \(Int(untraced)) | \(Int(walks.ops)) | \(Int(no.ops)) | \(Int(yes.ops)) | \(Int(owners.ops)) | "
                        + String(
                            format: "%.3f | %.3f | %.3f | %.3f | %.3f |", r["walks"]!, r["no"]!, r["yes"]!, r["yes/no"]!,
                            r["owners/no"]!))
            }
            func summary(_ k: String) -> String {
                let v = ratios[k]!.sorted()
                return String(format: "%.3f (%.3f–%.3f)", v[v.count / 2], v.first!, v.last!)
            }
            print("\nmedian (min–max) over \(rounds) rounds: walks / untraced \(summary("walks")), no / untraced \(summary("no")), yes / untraced "
                + "\(summary("yes")), yes / no \(summary("yes/no")), yes + owner stacks / no \(summary("owners/no"))")
            let micros = try [
                wakerRun(tools, "no", storm.command, scratch, walkEveryStack: true, bpfTime: true),
                wakerRun(tools, "no", storm.command, scratch, bpfTime: true),
                wakerRun(tools, "yes", storm.command, scratch, bpfTime: true),
                wakerRun(tools, "yes", storm.command, scratch, ownerStacks: true, bpfTime: true),
            ].map(\.bpfMicrosPerContention)
            print(
                String(
                    format: "\nBPF µs per contention (one run each with contention.bpf_time yes, not in the ratios): "
                        + "walks %.2f, no %.2f, yes %.2f, yes + owner stacks %.2f", micros[0], micros[1], micros[2], micros[3]))
        }
    }

    /// One lockstat run of `command` in bpf mode with `contention.wakers` set to `wakers` (and
    /// `contention.owner_stacks yes` if `ownerStacks`; every kernel stack walked if `walkEveryStack`;
    /// the programs' run time counted if `bpfTime`).
    static func wakerRun(
        _ tools: String, _ wakers: String, _ command: [String], _ scratch: String, ownerStacks: Bool = false,
        walkEveryStack: Bool = false, bpfTime: Bool = false
    ) throws -> (ops: Double, bpfMicrosPerContention: Double) {
        let name = wakers + (ownerStacks ? "-owners" : "") + (walkEveryStack ? "-walks" : "")
        let dir = scratch + "/run-wakers-" + name
        try? FileManager.default.removeItem(atPath: dir)
        let config = scratch + "/wakers-\(name).config"
        try ("modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers \(wakers)\n"
            + (ownerStacks ? "contention.owner_stacks yes\n" : "") + (bpfTime ? "contention.bpf_time yes\n" : ""))
            .write(toFile: config, atomically: true, encoding: .utf8)
        let r = try output(
            (walkEveryStack ? ["LOCKSTAT_TEST_WALK_EVERY_STACK=1"] : []) + [tools + "/lockstat-run", "--quiet", "--config", config, dir]
                + command)
        guard r.status == 0 else { throw LockstatError("lockstat-run (wakers \(wakers)): \(r.text)") }
        let ops =
            Double(
                (try String(contentsOfFile: dir + "/output", encoding: .utf8)).split(separator: "\n").last.map(
                    String.init) ?? "") ?? 0
        guard case .success(let bytes) = FileReader.readAll(dir + "/samples.pickle") else {
            throw LockstatError("\(dir): no pickle")
        }
        let cost = try Unpickler.decode(bytes)["contention"]?["cost"]
        let recorded = cost?["recorded"]?.number ?? 0
        return (ops, recorded > 0 ? (cost?["bpf_ns"]?.number ?? 0) / recorded / 1000 : 0)
    }

    static func range(_ values: [Double], _ format: String) -> String {
        guard let lo = values.min(), let hi = values.max() else { return "—" }
        return lo == hi || String(format: format, lo) == String(format: format, hi)
            ? String(format: format, lo)
            : String(format: format, lo) + "–" + String(format: format, hi)
    }

    static func compile(_ source: String, _ scratch: String) throws -> String {
        let exe = scratch + "/" + source.split(separator: ".")[0]
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let r = try output(["cc", "-O2", "-pthread", "-o", exe, repository.path + "/Tests/contention/" + source])
        guard r.status == 0 else { throw LockstatError("cc \(source): \(r.text)") }
        return exe
    }

    /// The storm's own count of operations, from its output.
    static func ops(_ command: [String]) throws -> Double {
        let r = try output(command)
        return Double(r.text.split(separator: "\n").last.map(String.init) ?? "") ?? 0
    }

    static func lockstat(
        _ tools: String, _ mode: String, _ command: [String], _ scratch: String, _ seconds: Double
    ) throws -> Figures {
        let dir = scratch + "/run-" + mode
        try? FileManager.default.removeItem(atPath: dir)
        let config = scratch + "/\(mode).config"
        try "modules contention\ncontention.mode \(mode)\n".write(toFile: config, atomically: true, encoding: .utf8)
        _ = try output([tools + "/lockstat-run", "--quiet", "--config", config, dir] + command)
        let ops =
            Double(
                (try String(contentsOfFile: dir + "/output", encoding: .utf8)).split(separator: "\n").last.map(
                    String.init) ?? "") ?? 0
        guard case .success(let bytes) = FileReader.readAll(dir + "/samples.pickle") else {
            throw LockstatError("\(dir): no pickle")
        }
        let d = try Unpickler.decode(bytes)["contention"]!
        let log = try RawLog.read(path: dir + "/samples/contention.log")
        // The kallsyms copy (the contention module's named stream 1) is made once per run,
        // whatever its length: left out of the rate.
        let stored = log.records.filter { $0.stream != RawLogStream.named(1) }.reduce(0) {
            $0 + $1.payload.count + RawLogFormat.headerSize
        }
        return Figures(
            ops: ops, kept: d["cost"]?["contentions"]?.number, lost: String(Int(d["lost"]?.number ?? 0)),
            bytesPerSecond: Double(stored) / seconds)
    }

    static func perf(_ command: [String], _ scratch: String, _ seconds: Double) throws -> Figures {
        let data = scratch + "/perf.data"
        let r = try output(["perf", "lock", "record", "-a", "-o", data, "--"] + command)
        let ops = Double(r.text.split(separator: "\n").first { Double($0) != nil }.map(String.init) ?? "") ?? 0
        let lost =
            r.text.split(separator: "\n").first { $0.contains("lost") }.map {
                String($0).trimmingCharacters(in: .whitespaces)
            } ?? "0"
        let table = try output(["sh", "-c", "perf lock contention -i \(data) -E 1000000 2>&1"])
        let kept = table.text.split(separator: "\n").compactMap { Double($0.split(separator: " ").first ?? "") }.reduce(
            0, +)
        let size = (try? FileManager.default.attributesOfItem(atPath: data)[.size] as? Int) ?? 0
        return Figures(ops: ops, kept: kept, lost: lost, bytesPerSecond: Double(size) / seconds)
    }

    static let bpftraceScript = """
        tracepoint:lock:contention_begin { @start[tid] = nsecs; }
        tracepoint:lock:contention_end /@start[tid]/ { @wait[kstack(8)] = stats(nsecs - @start[tid]); @n = count(); delete(@start[tid]); }
        END { clear(@start); clear(@wait); }
        """

    static func bpftrace(_ command: [String]) throws -> Figures {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/bpftrace") else {
            return Figures(ops: 0, kept: nil, lost: "no bpftrace", bytesPerSecond: nil)
        }
        let r = try output(["bpftrace", "-e", bpftraceScript, "-c", command.joined(separator: " ")])
        let lines = r.text.split(separator: "\n")
        let ops = Double(lines.first { Double($0) != nil }.map(String.init) ?? "") ?? 0
        let kept = lines.first { $0.hasPrefix("@n: ") }.flatMap { Double($0.dropFirst(4)) }
        return Figures(ops: ops, kept: kept, lost: "0", bytesPerSecond: 0)
    }

    static func output(_ command: [String]) throws -> (status: Int32, text: String) {
        let r = try ScriptProcess.run("/usr/bin/env", command)
        return (r.status, String(decoding: r.stdout, as: UTF8.self) + r.stderr)
    }
}
