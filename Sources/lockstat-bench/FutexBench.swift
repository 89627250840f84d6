import CLockstat
import Foundation
import LockstatCore
import LockstatModules

/// The futex module on the heavy-mutex program (Tests/futex/futex_truth.c, 4 workers), rounds
/// alternating untraced, lockstat's futex module, `perf record --call-graph dwarf -e
/// syscalls:sys_enter_futex` and a bpftrace `ustack` aggregation: the program's throughput (its
/// own count of heavy_lock acquisitions) as a ratio to the same round's untraced, median over
/// the rounds; bytes stored per second; the DWARF unwinding's CPU per stack copy of the run.
enum FutexBench {
    static let tools = ["untraced", "lockstat futex", "perf record --call-graph dwarf", "bpftrace ustack"]
    static let bpftraceScript = """
        tracepoint:syscalls:sys_enter_futex /comm == "futex_truth"/ { @[ustack] = count(); }
        END { clear(@); }
        """

    static func run(scratch: String, seconds: Double, rounds: Int) throws {
        let lockstat = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let exe = scratch + "/futex_truth"
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let cc = try ContentionStormBench.output([
            "cc", "-O2", "-fno-omit-frame-pointer", "-pthread", "-o", exe, repository.path + "/Tests/futex/futex_truth.c",
        ])
        guard cc.status == 0 else { throw LockstatError("cc futex_truth.c: \(cc.text)") }
        let command = [exe, "\(seconds)", "4"]
        var ratios = [String: [Double]]()
        var bytes = [String: [Double]]()
        var unwinding = [(copies: Int, microseconds: Double)]()
        for round in 0..<rounds {
            let base = ops(try ContentionStormBench.output(command).text)
            guard base > 0 else { throw LockstatError("futex_truth printed no heavy_ops") }
            ratios["untraced", default: []].append(1)
            // lockstat: its raw log less the kallsyms copy (made once per run) per second.
            let dir = scratch + "/futex-run-\(round)"
            try "modules futex\n".write(toFile: scratch + "/futex.config", atomically: true, encoding: .utf8)
            _ = try ContentionStormBench.output(
                [lockstat + "/lockstat-run", "--quiet", "--config", scratch + "/futex.config", dir] + command)
            let output = try String(contentsOfFile: dir + "/output", encoding: .utf8)
            ratios["lockstat futex", default: []].append(ops(output) / base)
            let log = try RawLog.read(path: dir + "/samples/futex.log")
            let stored = log.records.filter { $0.stream != RawLogStream.named(1) }.reduce(0) {
                $0 + $1.payload.count + RawLogFormat.headerSize
            }
            bytes["lockstat futex", default: []].append(Double(stored) / seconds)
            unwinding.append(try unwindAll(log))
            // perf: perf.data per second.
            let data = scratch + "/perf.data"
            let perf = try ContentionStormBench.output(
                ["perf", "record", "-q", "--call-graph", "dwarf,4096", "-e", "syscalls:sys_enter_futex", "-o", data, "--"]
                    + command)
            ratios["perf record --call-graph dwarf", default: []].append(ops(perf.text) / base)
            let size = (try? FileManager.default.attributesOfItem(atPath: data)[.size] as? Int) ?? 0
            bytes["perf record --call-graph dwarf", default: []].append(Double(size) / seconds)
            // bpftrace: an in-kernel count by user stack (frame pointers), nothing stored.
            let bpftrace = try ContentionStormBench.output(
                ["bpftrace", "-e", bpftraceScript, "-c", command.joined(separator: " ")])
            ratios["bpftrace ustack", default: []].append(ops(bpftrace.text) / base)
            bytes["bpftrace ustack", default: []].append(0)
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        print("\n## futex: the heavy-mutex program under the module and its peers (\(seconds) s a run, \(rounds) rounds)\n")
        print("| tool | throughput, of untraced (median) | range | stored, bytes/s (median) |")
        print("|---|---|---|---|")
        for tool in tools {
            let r = ratios[tool] ?? []
            print(
                "| \(tool) | \(String(format: "%.2f", median(r))) | \(ContentionStormBench.range(r, "%.2f")) | "
                    + "\(bytes[tool].map { String(format: "%.0f", median($0)) } ?? "—") |")
        }
        let perCopy = unwinding.map { $0.copies > 0 ? $0.microseconds / Double($0.copies) : 0 }
        print(
            "\nDWARF unwinding of each run's stack copies (UserUnwinder, calling thread's CPU): "
                + "\(unwinding.map { String($0.copies) }.joined(separator: ", ")) copies, "
                + "\(perCopy.map { String(format: "%.1f", $0) }.joined(separator: ", ")) µs per copy")
    }

    /// The program's own count of heavy_lock acquisitions (its `heavy_ops N` line).
    static func ops(_ text: String) -> Double {
        text.split(separator: "\n").first { $0.hasPrefix("heavy_ops ") }.flatMap { Double($0.dropFirst(10)) } ?? 0
    }

    /// Every stack copy of the run's futex log unwound against its process's code mappings
    /// (as recorded, with their build IDs): the copies and the CPU µs the unwinding took.
    static func unwindAll(_ log: RawLog) throws -> (copies: Int, microseconds: Double) {
        var mappings = [UInt32: [UserMapping]]()
        var buildIDs = [String: String]()
        for r in log.sideRecords(stream: RawLogStream.named(17)) {
            for line in log.text(r).split(separator: "\n") {
                guard let space = line.firstIndex(of: " ") else { continue }
                buildIDs[String(line[line.index(after: space)...])] = String(line[..<space])
            }
        }
        for r in log.sideRecords(stream: RawLogStream.named(16)) {
            let lines = log.text(r).split(separator: "\n")
            guard let pid = lines.first?.dropFirst(2).split(separator: " ").first.flatMap({ UInt32($0) }) else {
                continue
            }
            for line in lines.dropFirst() {
                let f = line.split(separator: " ", omittingEmptySubsequences: true)
                let range = f.first?.split(separator: "-") ?? []
                guard f.count >= 6, f[1].contains("x"), f[5].hasPrefix("/"), range.count == 2,
                    let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                    let offset = UInt64(f[2], radix: 16)
                else { continue }
                let path = String(line[f[5].startIndex...])
                mappings[pid, default: []].append(
                    UserMapping(path: path, start: start, end: end, fileOffset: offset, buildID: buildIDs[path] ?? ""))
            }
        }
        typealias S = ls_futex_sample
        let stride = MemoryLayout<S>.stride
        var copies = [(pid: UInt32, registers: UserRegisters, bytes: [UInt8])]()
        for r in log.sideRecords(stream: RawLogStream.named(15)) {
            let b = log.payloadBytes(r)
            for i in 0..<(b.count / stride) {
                let one = UnsafeRawBufferPointer(rebasing: b[(i * stride)..<((i + 1) * stride)])
                func u64(_ field: KeyPath<S, UInt64>) -> UInt64 {
                    one.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: field)!, as: UInt64.self)
                }
                let size = Int(one.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: \S.size)!, as: UInt32.self))
                let at = MemoryLayout<S>.offset(of: \S.stack)!
                copies.append(
                    (
                        one.loadUnaligned(fromByteOffset: MemoryLayout<S>.offset(of: \S.tgid)!, as: UInt32.self),
                        UserRegisters(pc: u64(\S.ip), sp: u64(\S.sp), bp: u64(\S.bp)),
                        Array(one[at..<(at + min(size, Int(LS_FUTEX_COPY_BYTES)))])
                    ))
            }
        }
        let unwinder = UserUnwinder()
        // Each process's files opened once, before the clock starts, as the parse does.
        for (pid, m) in mappings {
            if let c = copies.first(where: { $0.pid == pid }) {
                _ = c.bytes.withUnsafeBytes { unwinder.unwind(mappings: m, registers: c.registers, stack: $0) }
            }
        }
        var t0 = timespec()
        var t1 = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0)
        for c in copies {
            _ = c.bytes.withUnsafeBytes {
                unwinder.unwind(mappings: mappings[c.pid] ?? [], registers: c.registers, stack: $0)
            }
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1)
        let ns = Double(t1.tv_sec - t0.tv_sec) * 1e9 + Double(t1.tv_nsec - t0.tv_nsec)
        return (copies.count, ns / 1e3)
    }
}
