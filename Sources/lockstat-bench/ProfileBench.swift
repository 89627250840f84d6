import CLockstat
import Foundation
import LockstatCore
import LockstatModules

/// The profile module's figures: what a sample costs (lockstat's drain thread, the parse that
/// symbolizes it, and the sampled program's slowdown at a high rate), and how long the symbols
/// of a large binary take to read and look up.
enum ProfileBench {
    /// At `hz` on every CPU, `repeats` rounds with and without the profiler, alternated.
    static func run(scratch: String, hz: Int = 999, repeats: Int = 3) throws {
        let module = ProfileModule()
        if let reason = module.unavailableReason(SystemRoot()) {
            print("\n## oprofile: not measured here (\(reason))")
            return
        }
        let exe = try compile("hot-pair.c", into: scratch)
        let seconds = 3.0
        // The program's work (rounds in `seconds`, pinned to the last CPU) without and with the
        // profiler, alternated; medians.
        var without = [Double]()
        var with = [Double]()
        var drain = [Double]()
        var parse = [Double]()
        var samples = [Double]()
        for _ in 0..<repeats {
            without.append(try rounds(exe, seconds))
            let p = try profiled(exe, seconds, hz: hz, callgraph: "fp", scratch: scratch)
            with.append(p.rounds)
            drain.append(p.drainMicroseconds)
            parse.append(p.parseMicroseconds)
            samples.append(p.samples)
        }
        func median(_ v: [Double]) -> Double { v.sorted()[v.count / 2] }
        let slowdown = 1 - median(with) / median(without)
        // Samples on the program's CPU: one CPU's share of the run's samples.
        let perCPU = median(samples) / Double(onlineCPUs(SystemRoot()).count)
        print(
            "\n## oprofile: cost per sample (cpu-clock at \(hz) Hz on every CPU, \(Int(seconds)) s, Tests/profile/hot-pair.c pinned to one CPU; medians of \(repeats))\n"
        )
        print(
            "| samples | lockstat drain thread µs CPU/sample | parse (symbolize, aggregate) µs CPU/sample | program's work lost | ≈ µs of the program's CPU per sample on its CPU |"
        )
        print("|---|---|---|---|---|")
        print(
            String(
                format: "| %.0f | %.2f | %.1f | %.2f %% | %.1f |", median(samples), median(drain), median(parse),
                slowdown * 100,
                max(0, slowdown) * seconds * 1e6 / perCPU))
        try symbols()
        try callgraphs(scratch: scratch, hz: hz, repeats: repeats)
    }

    struct Profiled { var rounds, drainMicroseconds, parseMicroseconds, samples, bytes: Double }

    /// One round of `exe` under the module (every CPU, `hz`, `oprofile.callgraph`): the program's
    /// rounds, the drain thread's and the parse's CPU per sample, the samples, the raw log's bytes
    /// less its kallsyms copy.
    static func profiled(_ exe: String, _ seconds: Double, hz: Int, callgraph: String, scratch: String) throws -> Profiled {
        let module = ProfileModule()
        let dir = "\(scratch)/profile"
        try makeDirectories(dir + "/samples")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try RawLogWriter(path: dir + "/samples/oprofile.log")
        var config = Config(modules: ["oprofile"], interval: 0.1)
        config.moduleSettings["oprofile"] = ["frequency": [String(hz)], "callgraph": [callgraph]]
        let recorder = try module.presampling(
            RecordingContext(system: SystemRoot(), config: config, directory: TestDirectory(dir), log: log))
        let sampled = SampledModule(name: "oprofile", interval: 0.1, sharesThread: false, recorder: recorder, log: log)
        let thread = SamplingThread.threads(for: [sampled])[0]
        thread.start(at: ls_monotonic_ns())
        let done = try rounds(exe, seconds)
        thread.stopAndWait()
        let t0 = ls_thread_cpu_ns()
        let raw = try RawLog.read(path: dir + "/samples/oprofile.log")
        let data = try module.parse(raw, config: config).data
        let parseNanoseconds = ls_thread_cpu_ns() - t0
        let n = data["total_samples"]?.number ?? 1
        // The kallsyms copy (named stream 1) is made once per run, whatever its length: left out.
        let stored = raw.records.filter { $0.stream != RawLogStream.named(1) }.reduce(0) {
            $0 + $1.payload.count + RawLogFormat.headerSize
        }
        return Profiled(
            rounds: done, drainMicroseconds: Double(thread.cpuNanoseconds) / 1e3 / n,
            parseMicroseconds: Double(parseNanoseconds) / 1e3 / n, samples: n, bytes: Double(stored))
    }

    /// oprofile.callgraph fp against dwarf, `perf record -g` and `perf record --call-graph dwarf`, on
    /// a -O2 program whose hot function runs under glibc's qsort: rounds rotating the five (untraced
    /// among them); per round each one's work over the same round's untraced; per sample the
    /// profiler's CPU while recording, after it (lockstat's parse, `perf script`) and bytes stored.
    static func callgraphs(scratch: String, hz: Int, repeats: Int) throws {
        let exe = try compile("through-libc.c", into: scratch, flags: ["-O2", "-g", "-fomit-frame-pointer"])
        let seconds = 3.0
        let profilers = [
            "untraced", "lockstat, oprofile.callgraph fp", "lockstat, oprofile.callgraph dwarf", "perf record -a -g",
            "perf record -a --call-graph dwarf",
        ]
        var work = [String: [Double]]()
        var runs = [String: [Profiled]]()
        for round in 0..<repeats {
            var done = [String: Double]()
            // The order turns each round, so each profiler meets the load's moves as often as the others.
            for k in 0..<profilers.count {
                let profiler = profilers[(k + round) % profilers.count]
                switch profiler {
                case "untraced": done[profiler] = try rounds(exe, seconds)
                case let p where p.hasPrefix("lockstat"):
                    let callgraph = String(p.split(separator: " ").last!)
                    let r = try profiled(exe, seconds, hz: hz, callgraph: callgraph, scratch: scratch)
                    done[profiler] = r.rounds
                    runs[profiler, default: []].append(r)
                default:
                    let callgraph = profiler.hasSuffix("-g") ? ["-g"] : ["--call-graph", "dwarf"]
                    let r = try perfRecorded(exe, seconds, hz: hz, callgraph: callgraph, scratch: scratch)
                    done[profiler] = r.rounds
                    runs[profiler, default: []].append(r)
                }
            }
            for (profiler, rounds) in done { work[profiler, default: []].append(rounds / done["untraced"]!) }
        }
        print(
            "\n## oprofile: DWARF call graphs against frame pointers and perf (cpu-clock at \(hz) Hz on every CPU, "
                + "\(Int(seconds)) s, Tests/profile/through-libc.c -O2 -fomit-frame-pointer pinned to one CPU; "
                + "\(repeats) rounds, rotated; median (min–max) over the rounds)\n")
        print(
            "| profiler | program's work / untraced, same round | samples | CPU µs/sample while recording "
                + "| CPU µs/sample after (parse; perf script) | bytes stored / sample |")
        print("|---|---|---|---|---|---|")
        for profiler in profilers.dropFirst() {
            let r = runs[profiler]!
            print(
                "| \(profiler) | \(RuntimeBench.summary(work[profiler]!, "%.3f")) | "
                    + "\(RuntimeBench.summary(r.map(\.samples), "%.0f")) | "
                    + "\(RuntimeBench.summary(r.map(\.drainMicroseconds), "%.2f")) | "
                    + "\(RuntimeBench.summary(r.map(\.parseMicroseconds), "%.1f")) | "
                    + "\(RuntimeBench.summary(r.map { $0.bytes / max($0.samples, 1) }, "%.0f")) |")
        }
    }

    /// One round of `exe` under `perf record -a` (`callgraph`: `-g` or `--call-graph dwarf`): the
    /// program's rounds, the samples perf reports, perf's own CPU per sample while recording (its
    /// process, the program's CPU taken out: GNU time's count of it) and `perf script`'s after
    /// (unwinding and symbolizing, the counterpart of lockstat's parse), perf.data's bytes.
    static func perfRecorded(
        _ exe: String, _ seconds: Double, hz: Int, callgraph: [String], scratch: String
    ) throws -> Profiled {
        let data = scratch + "/perf.data"
        let cpu = onlineCPUs(SystemRoot()).last ?? 0
        let before = childrenCPUSeconds()
        let r = try ScriptProcess.run(
            "/usr/bin/env",
            ["perf", "record", "-a"] + callgraph + ["-F", String(hz), "-e", "cpu-clock", "-o", data, "--",
                "/usr/bin/time", "-f", "workload_cpu %U %S", "taskset", "-c", String(cpu), exe, String(seconds)])
        let perfCPU = childrenCPUSeconds() - before
        let out = String(decoding: r.stdout, as: UTF8.self)
        let lines = r.stderr.split(separator: "\n")
        let program = lines.last { $0.hasPrefix("workload_cpu ") }.map {
            $0.split(separator: " ").dropFirst().compactMap { Double($0) }.reduce(0, +)
        }
        // "[ perf record: Captured and wrote 25.123 MB perf.data (12345 samples) ]"
        let samples = lines.last { $0.contains("perf record: Captured") }.flatMap { line in
            line.split(separator: "(").last?.split(separator: " ").first.flatMap { Double($0) }
        }
        guard r.status == 0, let program, let samples, samples > 0 else {
            throw LockstatError("perf record \(callgraph.joined(separator: " ")): \(r.stderr)")
        }
        // Without --no-inline perf script runs addr2line on every frame (minutes for a compiler's frames).
        let script0 = childrenCPUSeconds()
        let script = "perf script --no-inline -F comm,tid,ip,sym,dso -i \(data) >/dev/null 2>&1"
        _ = try ScriptProcess.run("/bin/sh", ["-c", script])
        let scriptCPU = childrenCPUSeconds() - script0
        var st = stat()
        stat(data, &st)
        return Profiled(
            rounds: Double(out.split(separator: "\n").last.map(String.init) ?? "") ?? 0,
            drainMicroseconds: max(0, perfCPU - program) * 1e6 / samples,
            parseMicroseconds: scriptCPU * 1e6 / samples, samples: samples, bytes: Double(st.st_size))
    }

    /// User and system CPU time of this process's waited-for children, s.
    static func childrenCPUSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(
            usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    /// Reading a large binary's symbol table, then looking up addresses in it.
    static func symbols() throws {
        let candidates = ["/opt/swift/usr/bin/swift-frontend", CommandLine.arguments[0]]
        guard let path = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else { return }
        var st = stat()
        stat(path, &st)
        let t0 = ls_monotonic_ns()
        guard var elf = ElfImage(path: path) else { return }
        elf.addDebugSymbols()
        let load = Double(ls_monotonic_ns() - t0) / 1e9
        let low = elf.symbols.first?.address ?? 0
        let high = (elf.symbols.last?.address ?? 0) + 1
        var generator = SystemRandomNumberGenerator()
        let lookups = 1_000_000
        let addresses = (0..<lookups).map { _ in low + generator.next(upperBound: high - low) }
        let t1 = ls_monotonic_ns()
        var found = 0
        for a in addresses where elf.symbol(at: a) != nil { found += 1 }
        let lookup = Double(ls_monotonic_ns() - t1) / Double(lookups)
        let names = elf.symbols.prefix(10_000).map(\.name)
        let t2 = ls_monotonic_ns()
        for n in names { _ = Demangler.demangle(n) }
        let demangle = Double(ls_monotonic_ns() - t2) / 1e3 / Double(names.count)
        print("\n## oprofile: symbols of a large binary (\(path), \(st.st_size / 1_000_000) MB)\n")
        print("| function symbols | read once (s) | lookup ns/address (1M random) | demangle µs/name (10,000 names) |")
        print("|---|---|---|---|")
        print(String(format: "| %d | %.2f | %.0f | %.1f |", elf.symbols.count, load, lookup, demangle))
        _ = found
    }

    static func compile(
        _ source: String, into dir: String, flags: [String] = ["-O1", "-fno-omit-frame-pointer"]
    ) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Tests/profile/" + source).path
        let exe = dir + "/" + source.split(separator: ".")[0]
        let cc = try ScriptProcess.run("/usr/bin/cc", flags + ["-o", exe, path])
        guard cc.status == 0 else { throw LockstatError("cc \(path) failed: \(cc.stderr)") }
        return exe
    }

    /// Rounds the program runs in `seconds` on the last CPU (under `wrapper`, a profiler, if any).
    static func rounds(_ exe: String, _ seconds: Double, wrapper: [String] = []) throws -> Double {
        let cpu = onlineCPUs(SystemRoot()).last ?? 0
        let command = wrapper + ["taskset", "-c", String(cpu), exe, String(seconds)]
        let out = String(
            decoding: try ScriptProcess.run("/usr/bin/env", command).stdout, as: UTF8.self)
        return Double(out.split(separator: "\n").last.map(String.init) ?? "") ?? 0
    }
}
