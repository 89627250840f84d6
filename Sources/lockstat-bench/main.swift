// lockstat-bench: the sampler's cost against the minimal C reference sampler, measured in the
// same run, and the parsers' throughput. Not a test: it reports figures for BENCHMARKS.md.
//
//   swift build -c release && .build/release/lockstat-bench [--seconds S] [--rounds N] [--parse-only] [--storms-only] [--futex-only] [--long-runs [--hours 1,3,24]] [--big-machines]
//   [--wakers-only [--seconds S] [--rounds N]]   (every stack walked / contention.wakers no / yes / yes with owner_stacks against untraced, rotated)
//   [--profile-only [--hz N] [--rounds N]]   (the profile's cost per sample at N Hz, 999 by default)
//   [--profile-callgraph-only [--hz N] [--rounds N]]
//       (oprofile.callgraph fp / dwarf against perf -g / dwarf, rotated; 499 Hz by default)
//   [--runtimes-only [--seconds S] [--rounds N]]
//       (the futex module on each runtime's test program against untraced, rotated)
//   .build/release/lockstat-bench --generate-long-run DIR HOURS [--plain]   (the long run's test directory only, for the tests;
//                                                                           --plain: one kind-1 record a snapshot, as older versions wrote)
import CLockstat
import Foundation
import LockstatCore
import LockstatModules

struct SamplerFigures {
    var cpuMicrosPerSample: Double
    var samples: Int
    var missed: Int
    var p50: Double
    var p99: Double
}

func argument(_ name: String, default value: Double) -> Double {
    let args = CommandLine.arguments
    guard let i = args.firstIndex(of: name), i + 1 < args.count, let v = Double(args[i + 1]) else { return value }
    return v
}

if let i = CommandLine.arguments.firstIndex(of: "--generate-long-run"), i + 2 < CommandLine.arguments.count,
    let hours = Double(CommandLine.arguments[i + 2])
{
    let (raw, _, ticks) = try LongRunBench.generate(
        CommandLine.arguments[i + 1], hours: hours,
        batched: !CommandLine.arguments.contains("--plain"))
    print("\(ticks) ticks, \(Int(raw)) bytes of raw logs")
    exit(0)
}

let seconds = argument("--seconds", default: 5)
let rounds = Int(argument("--rounds", default: 3))
let modules = BuiltInModules.all.filter { ["stat", "diskstats"].contains($0.name) }
let files = ["/proc/stat", "/proc/diskstats"]
let scratch = "/var/tmp/lockstat-bench-\(getpid())"
try makeDirectories(scratch)
defer { _ = try? FileManager.default.removeItem(atPath: scratch) }
if CommandLine.arguments.contains("--long-runs") {
    let hours =
        CommandLine.arguments.firstIndex(of: "--hours").flatMap { i in
            i + 1 < CommandLine.arguments.count
                ? CommandLine.arguments[i + 1].split(separator: ",").compactMap { Double($0) } : nil
        } ?? [1, 3]
    try LongRunBench.run(scratch: scratch, hours: hours)
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--big-machines") {
    try BigMachineBench.run(scratch: scratch)
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--profile-only") {
    try ProfileBench.run(scratch: scratch, hz: Int(argument("--hz", default: 999)), repeats: rounds)
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--profile-callgraph-only") {
    if let reason = ProfileModule().unavailableReason(SystemRoot()) {
        print("oprofile: not measured here (\(reason))")
    } else {
        try ProfileBench.callgraphs(scratch: scratch, hz: Int(argument("--hz", default: 499)), repeats: max(rounds, 1))
    }
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--futex-only") {
    try FutexBench.run(scratch: scratch, seconds: argument("--seconds", default: 2), rounds: rounds)
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--runtimes-only") {
    try RuntimeBench.run(scratch: scratch, seconds: argument("--seconds", default: 2), rounds: max(rounds, 1))
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--wakers-only") {
    try ContentionStormBench.wakers(
        scratch: scratch, seconds: argument("--seconds", default: 3), rounds: max(rounds, 1))
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}
if CommandLine.arguments.contains("--storms-only") {
    try ContentionStormBench.run(scratch: scratch, seconds: 3, rounds: rounds)
    try? FileManager.default.removeItem(atPath: scratch)
    exit(0)
}

/// lockstat's own sampling path: the modules' presampling and their sampling thread(s); CPU is
/// the whole process's CPU time from the first tick to the last batch written (the sampling
/// thread, and the threads that compress and write the batched logs).
func measureLockstat(rate: Double) throws -> SamplerFigures {
    let config = Config(modules: modules.map(\.name), interval: 1 / rate)
    var sampled = [SampledModule]()
    for m in modules {
        let log = try RawLogWriter(path: "\(scratch)/\(m.name).log")
        let recorder = try m.presampling(
            RecordingContext(system: SystemRoot(), config: config, directory: TestDirectory(scratch), log: log))
        sampled.append(
            SampledModule(
                name: m.name, interval: 1 / rate, sharesThread: m.samplesCheaply, recorder: recorder, log: log))
    }
    let threads = SamplingThread.threads(for: sampled)
    let cpuBefore = processCPUNanoseconds()
    let start = ls_monotonic_ns()
    threads.forEach { $0.start(at: start) }
    usleep(UInt32(seconds * 1e6))
    threads.forEach { $0.stopAndWait() }
    let cpu = processCPUNanoseconds() - cpuBefore
    let ticks = sampled.map { $0.counters.samples.load(ordering: .relaxed) }.min() ?? 1
    for m in modules { unlink("\(scratch)/\(m.name).log") }
    return SamplerFigures(
        cpuMicrosPerSample: cpu / 1e3 / Double(ticks), samples: ticks,
        missed: sampled.map { $0.counters.missed.load(ordering: .relaxed) }.max() ?? 0,
        p50: threads.compactMap { $0.lateness.quantile(0.5) }.max() ?? 0,
        p99: threads.compactMap { $0.lateness.quantile(0.99) }.max() ?? 0)
}

/// User and system CPU time of every thread of this process (getrusage RUSAGE_SELF).
func processCPUNanoseconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e9 + Double(
        usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) * 1e3
}

/// The C reference, run as its own process.
func measureReference(rate: Double) throws -> SamplerFigures {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent(
        "lockstat-refsampler")
    let out = String(
        decoding: try ScriptProcess.run(exe.path, ["\(rate)", "\(seconds)", "\(scratch)/reference.out"] + files).stdout,
        as: UTF8.self)
    var fields = [String: Double]()
    for part in out.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
        let kv = part.split(separator: "=")
        if kv.count == 2 { fields[String(kv[0])] = Double(kv[1]) }
    }
    guard let cpu = fields["cpu_us_per_sample"] else { throw LockstatError("reference sampler printed: \(out)") }
    return SamplerFigures(
        cpuMicrosPerSample: cpu, samples: Int(fields["samples"] ?? 0), missed: Int(fields["missed"] ?? 0),
        p50: fields["late_p50_us"] ?? 0, p99: fields["late_p99_us"] ?? 0)
}

func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }

let parseOnly = CommandLine.arguments.contains("--parse-only")
if !parseOnly {
    print("## Sampler: CPU per sample against the C reference (/proc/stat + /proc/diskstats)\n")
    print(
        "\(rounds) alternating rounds of \(seconds) s per rate; medians. CPU µs per sample = CPU time / ticks taken (one tick reads both files): lockstat's whole process (sampling, compressing and writing the batched logs), the reference's loop.\n"
    )
    print(
        "| rate | lockstat CPU µs/sample | reference CPU µs/sample | ratio | lockstat late p50 / p99 µs | reference late p50 / p99 µs | ticks taken (lockstat) | missed |"
    )
    print("|---|---|---|---|---|---|---|---|")
}
for rate in parseOnly ? [] : [100.0, 1000.0] {
    var ours = [SamplerFigures]()
    var theirs = [SamplerFigures]()
    for _ in 0..<rounds {
        ours.append(try measureLockstat(rate: rate))
        theirs.append(try measureReference(rate: rate))
    }
    let ratio = median(zip(ours, theirs).map { $0.cpuMicrosPerSample / $1.cpuMicrosPerSample })
    let samples = ours.map(\.samples).reduce(0, +)
    let missed = ours.map(\.missed).reduce(0, +)
    let taken = Double(samples) / Double(samples + missed) * 100
    print(
        String(
            format: "| %.0f Hz | %.1f | %.1f | %.3f | %.0f / %.0f | %.0f / %.0f | %.2f %% | %d |",
            rate, median(ours.map(\.cpuMicrosPerSample)), median(theirs.map(\.cpuMicrosPerSample)), ratio,
            median(ours.map(\.p50)), median(ours.map(\.p99)), median(theirs.map(\.p50)), median(theirs.map(\.p99)),
            taken, missed))
}

// MARK: parse throughput

/// A long series made from this machine's own file, each snapshot's counters advanced.
func syntheticSeries(_ file: String, count: Int) throws -> RawLog {
    guard case .success(let text) = FileReader.readText(file) else { throw LockstatError("cannot read \(file)") }
    let path = "\(scratch)/series.log"
    unlink(path)
    let writer = try RawLogWriter(path: path)
    writer.append(kind: .header, tick: 0, time: 0, text: "module bench\ninterval_ns 100000000\nstart_ns 0\n")
    let lines = text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: false) }
    for i in 0..<count {
        let snapshot =
            lines.map { tokens in
                tokens.enumerated().map { k, t in
                    k >= 3 && !t.isEmpty ? (UInt64(t).map { String($0 + UInt64(i * (k + 1))) } ?? String(t)) : String(t)
                }
                .joined(separator: " ")
            }.joined(separator: "\n") + "\n"
        writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i) * 100_000_000, text: snapshot)
    }
    return try RawLog.read(path: path)
}

func throughput(
    _ module: any LockstatModule, file: String, count: Int
) throws -> (mbPerSecond: Double, megabytes: Double) {
    let log = try syntheticSeries(file, count: count)
    let bytes = Double(log.snapshots().reduce(0) { $0 + $1.payload.count })
    var best = Double.infinity
    for _ in 0..<3 {
        let t0 = ls_thread_cpu_ns()
        let reread = try RawLog.read(path: log.path)
        _ = try module.parse(reread, config: Config(modules: [module.name]))
        best = min(best, Double(ls_thread_cpu_ns() - t0) / 1e9)
    }
    return (bytes / 1e6 / best, bytes / 1e6)
}

print(
    "\n## Parse throughput (one core, CPU time, best of 3; raw log read and checked, snapshots parsed, iostat/mpstat columns computed)\n"
)
print("| series | snapshots | MB of snapshot text | MB/s |")
print("|---|---|---|---|")
for (module, file, count) in [(modules[1], "/proc/diskstats", 100_000), (modules[0], "/proc/stat", 20_000)] {
    let t = try throughput(module, file: file, count: count)
    print(String(format: "| %@ | %d | %.1f | %.0f |", file, count, t.megabytes, t.mbPerSecond))
}

// MARK: lock_stat: storage and parse

/// A 10-minute run at 1 s made from the real lock_stat capture in the unit tests' fixtures: every
/// second a rotating fifth of the classes acquire their locks again (their counters advance).
func lockStatSeries(samples: Int) throws -> (log: RawLog, rawBytes: Int, storedBytes: Int) {
    let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Tests/LockstatUnitTests/Fixtures/lock_stat/vm-6.1-workload.txt").path
    guard case .success(let text) = FileReader.readText(fixture) else { throw LockstatError("\(fixture): missing") }
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let source = "\(scratch)/lock_stat"
    let path = "\(scratch)/lock_stat.log"
    unlink(path)
    try text.write(toFile: source, atomically: false, encoding: .utf8)
    let writer = try RawLogWriter(path: path)
    writer.append(kind: .header, tick: 0, time: 0, text: "module lock_stat\ninterval_ns 1000000000\nstart_ns 0\n")
    let recorder = try DeltaSnapshotRecorder(path: source, log: writer)
    var counters = [Int: Int]()
    for i in 0..<samples {
        var out = lines
        for (j, line) in lines.enumerated()
        where line.hasSuffix(String(line.last ?? " ")) && line.contains(":") && j % 5 == i % 5 {
            // Bump the acquisitions column (8th number) of this class line, keeping its width.
            var tokens = line.split(separator: " ", omittingEmptySubsequences: false).map(String.init)
            let numeric = tokens.indices.filter { !tokens[$0].isEmpty && Double(tokens[$0]) != nil }
            guard numeric.count == 12 else { continue }
            let k = numeric[7]
            counters[j, default: Int(tokens[k]) ?? 0] += 17 + j % 13
            let v = String(counters[j]!)
            tokens[k] = v.count < tokens[k].count ? String(repeating: " ", count: tokens[k].count - v.count) + v : v
            out[j] = tokens.joined(separator: " ")
        }
        try out.joined(separator: "\n").write(toFile: source, atomically: false, encoding: .utf8)
        _ = recorder.sample(tick: UInt64(i), time: UInt64(i) * 1_000_000_000)
    }
    return (try RawLog.read(path: path), recorder.rawBytes, recorder.storedBytes)
}

let lockStat = try lockStatSeries(samples: 600)
let lockStatModule = BuiltInModules.all.first { $0.name == "lock_stat" }!
var lockStatBest = Double.infinity
for _ in 0..<3 {
    let t0 = ls_thread_cpu_ns()
    _ = try lockStatModule.parse(try RawLog.read(path: lockStat.log.path), config: Config(modules: ["lock_stat"]))
    lockStatBest = min(lockStatBest, Double(ls_thread_cpu_ns() - t0) / 1e9)
}
print(
    "\n## lock_stat: storage and parse (600 snapshots of the real 6.1 capture, a fifth of the classes changing each second)\n"
)
print(
    "| raw snapshot bytes | stored bytes (zstd against the previous snapshot, keyframe every \(DeltaSnapshotRecorder.keyframeEvery)) | stored / raw | parse MB/s of snapshot text |"
)
print("|---|---|---|---|")
print(
    String(
        format: "| %d | %d | %.2f %% | %.0f |", lockStat.rawBytes, lockStat.storedBytes,
        Double(lockStat.storedBytes) / Double(lockStat.rawBytes) * 100, Double(lockStat.rawBytes) / 1e6 / lockStatBest))

// MARK: contention: events handled, lockstat's CPU per event against perf lock record's

/// The lock-heavy workload of the tests (Tests/vm/lock-workload.c), compiled once.
func lockWorkload() throws -> String {
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Tests/vm/lock-workload.c").path
    let exe = "\(scratch)/lock-workload"
    let cc = try ScriptProcess.run("/usr/bin/cc", ["-O2", "-o", exe, source])
    guard cc.status == 0 else { throw LockstatError("cc \(source) failed: \(cc.stderr)") }
    return exe
}

func runToEnd(_ exe: String, _ args: [String]) throws {
    _ = try ScriptProcess.run(exe, args)
}

func childrenCPU() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
        usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

let contention = ContentionModule()
if CommandLine.arguments.contains("--parse-only") {
} else if let reason = contention.unavailableReason(SystemRoot()) {
    print("\n## contention: not measured here (\(reason))")
} else {
    let seconds = 3.0
    let workload = try lockWorkload()
    // lockstat: the module's own sampling path, its drain thread's CPU.
    // Laid out as a test directory: parse writes samples/contention.txt beside the raw log.
    try makeDirectories("\(scratch)/samples")
    let log = try RawLogWriter(path: "\(scratch)/samples/contention.log")
    // Ring mode: this section is the per-event cost of copying events out (the storms below
    // compare the modes).
    let ringConfig = Config(modules: ["contention"], moduleSettings: ["contention": ["mode": ["ring"]]])
    let recorder = try contention.presampling(
        RecordingContext(
            system: SystemRoot(), config: ringConfig,
            directory: TestDirectory(scratch), log: log))
    let module = SampledModule(
        name: "contention", interval: contention.defaultInterval!, sharesThread: false, recorder: recorder, log: log)
    let thread = SamplingThread.threads(for: [module])[0]
    let t0 = ls_monotonic_ns()
    thread.start(at: t0)
    try runToEnd(workload, [scratch, "\(seconds)"])
    thread.stopAndWait()
    let elapsed = Double(ls_monotonic_ns() - t0) / 1e9
    let parseStart = ls_thread_cpu_ns()
    let parsed = try contention.parse(try RawLog.read(path: "\(scratch)/samples/contention.log"), config: ringConfig)
        .data
    let parseCPU = Double(ls_thread_cpu_ns() - parseStart) / 1e3
    let contended = (parsed["callers"]?.listItems ?? []).reduce(0.0) { $0 + ($1["contended"]?.number ?? 0) }
    let events = 2 * contended  // a begin and an end each
    let lockstatCPU = Double(thread.cpuNanoseconds) / 1e3 / events
    // perf lock record -a over the same workload, run beside it; its CPU from RUSAGE_CHILDREN.
    let cpu0 = childrenCPU()
    // perf runs in the background while the workload runs.
    let null = open("/dev/null", O_RDWR | O_CLOEXEC)
    guard null >= 0 else { throw LockstatError("/dev/null: cannot open") }
    let perfArguments = [
        "perf", "lock", "record", "-a", "-o", "\(scratch)/perf.data", "--", "sleep", "\(seconds + 0.5)",
    ]
    let perf = try Helper.spawn("/usr/bin/perf", arguments: perfArguments, inputFD: null, outputFD: null, errorFD: null)
    close(null)
    usleep(300_000)
    try runToEnd(workload, [scratch, "\(seconds)"])
    Helper.reap(perf)
    let perfCPUTotal = childrenCPU() - cpu0
    let count = try ScriptProcess.run(
        "/bin/sh", ["-c", "perf script -i \(scratch)/perf.data -F event 2>/dev/null | wc -l"])
    let perfEvents =
        Double(String(decoding: count.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    // The workload's own CPU is in RUSAGE_CHILDREN too (it is a child of this process): subtract one
    // workload run measured alone.
    let w0 = childrenCPU()
    try runToEnd(workload, [scratch, "\(seconds)"])
    let workloadCPU = childrenCPU() - w0
    let perfCPU = max(0, perfCPUTotal - workloadCPU) * 1e6 / max(perfEvents, 1)
    print(
        "\n## contention, ring mode: lock:contention_begin/end (Tests/vm/lock-workload.c for \(seconds) s, system-wide)\n"
    )
    print(
        "| events handled | events/s | lost | lockstat CPU µs/event: drain thread | + parse | perf lock record CPU µs/event (whole process) |"
    )
    print("|---|---|---|---|---|---|")
    print(
        String(
            format: "| %.0f | %.0f | %.0f | %.3f | %.3f | %.3f |", events, events / elapsed,
            parsed["lost"]?.number ?? -1,
            lockstatCPU, lockstatCPU + parseCPU / events, perfCPU))
}

if !CommandLine.arguments.contains("--parse-only") && contention.unavailableReason(SystemRoot()) == nil {
    try ContentionStormBench.run(scratch: scratch, seconds: 3, rounds: 2)
}

// MARK: oprofile: cost per sample, symbols of a large binary

if !CommandLine.arguments.contains("--parse-only") { try ProfileBench.run(scratch: scratch) }
