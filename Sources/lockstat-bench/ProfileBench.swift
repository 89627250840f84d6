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
            let dir = "\(scratch)/profile"
            try makeDirectories(dir + "/samples")
            let log = try RawLogWriter(path: dir + "/samples/oprofile.log")
            var config = Config(modules: ["oprofile"], interval: 0.1)
            config.moduleSettings["oprofile"] = ["frequency": [String(hz)]]
            let recorder = try module.presampling(
                RecordingContext(system: SystemRoot(), config: config, directory: TestDirectory(dir), log: log))
            let sampled = SampledModule(
                name: "oprofile", interval: 0.1, sharesThread: false, recorder: recorder, log: log)
            let thread = SamplingThread.threads(for: [sampled])[0]
            thread.start(at: ls_monotonic_ns())
            with.append(try rounds(exe, seconds))
            thread.stopAndWait()
            let t0 = ls_thread_cpu_ns()
            let data = try module.parse(try RawLog.read(path: dir + "/samples/oprofile.log"), config: config).data
            let n = data["total_samples"]?.number ?? 1
            parse.append(Double(ls_thread_cpu_ns() - t0) / 1e3 / n)
            drain.append(Double(thread.cpuNanoseconds) / 1e3 / n)
            samples.append(n)
            try FileManager.default.removeItem(atPath: dir)
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

    static func compile(_ source: String, into dir: String) throws -> String {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
            .appendingPathComponent("Tests/profile/" + source).path
        let exe = dir + "/" + source.split(separator: ".")[0]
        let cc = try ScriptProcess.run("/usr/bin/cc", ["-O1", "-fno-omit-frame-pointer", "-o", exe, path])
        guard cc.status == 0 else { throw LockstatError("cc \(path) failed: \(cc.stderr)") }
        return exe
    }

    /// Rounds hot-pair runs in `seconds` on the last CPU.
    static func rounds(_ exe: String, _ seconds: Double) throws -> Double {
        let cpu = onlineCPUs(SystemRoot()).last ?? 0
        let out = String(
            decoding: try ScriptProcess.run("/usr/bin/taskset", ["-c", String(cpu), exe, String(seconds)]).stdout,
            as: UTF8.self)
        return Double(out.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }
}
