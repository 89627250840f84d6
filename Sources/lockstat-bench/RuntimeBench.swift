import Foundation
import LockstatCore
import LockstatModules

/// One runtime's contended-lock test program, as a row of `RuntimeBench.runtimes`: how to build it
/// (into a directory of the benchmark's own), how to run it for a time, how to read its throughput.
struct BenchRuntime {
    var name: String
    /// The program's source, relative to the repository.
    var source: String
    /// The compiler or interpreter, the first of these that exists; none: the row is skipped.
    var tools: [String]
    /// The command that runs the built program for `seconds`: (tool, source path, build directory) → argv prefix.
    var build: (_ tool: String, _ source: String, _ dir: String) throws -> [String]
    /// The arguments after the prefix for a run of `seconds`.
    var arguments: (_ seconds: Double) -> [String]
    /// The line the program prints at exit with its count of operations (`heavy_ops N`), and what it counts.
    var countLine: String
    var counts: String
}

/// The futex module's overhead on each runtime's test program: rounds rotating untraced and
/// `lockstat run` with `modules futex`; the program's own count of operations in a fixed time
/// over the same round's untraced count, median (min–max) of the rounds' ratios.
enum RuntimeBench {
    static let runtimes: [BenchRuntime] = [
        BenchRuntime(
            name: "C (pthread_mutex)", source: "Tests/futex/futex_truth.c", tools: ["/usr/bin/cc"],
            build: { cc, source, dir in
                try compile([cc, "-O2", "-fno-omit-frame-pointer", "-pthread", "-o", dir + "/futex_truth", source])
                return [dir + "/futex_truth"]
            }, arguments: { ["\($0)", "4"] }, countLine: "heavy_ops", counts: "heavy_lock acquisitions"),
        BenchRuntime(
            name: "C++ (std::mutex)", source: "Tests/futex/futex_cpp.cpp", tools: ["/usr/bin/g++"],
            build: { gxx, source, dir in
                try compile([gxx, "-O2", "-pthread", "-o", dir + "/futex_cpp", source])
                return [dir + "/futex_cpp"]
            }, arguments: { ["\($0)", "4"] }, countLine: "heavy_ops", counts: "app::heavy_mutex acquisitions"),
        BenchRuntime(
            name: "Rust (std::sync::Mutex)", source: "Tests/futex/futex_rust.rs",
            tools: ["/usr/bin/rustc", "/root/.cargo/bin/rustc"],
            build: { rustc, source, dir in
                try compile([rustc, "-O", "-o", dir + "/futex_rust", source])
                return [dir + "/futex_rust"]
            },
            // The program takes whole seconds.
            arguments: { ["\(Int($0.rounded(.up)))", "4"] }, countLine: "heavy_ops", counts: "HEAVY acquisitions"),
        BenchRuntime(
            name: "CPython (the GIL)", source: "Tests/futex/gil_spin.py", tools: ["/usr/bin/python3"],
            build: { python, source, dir in
                try FileManager.default.copyItem(atPath: source, toPath: dir + "/gil_spin.py")
                return [python, dir + "/gil_spin.py"]
            }, arguments: { ["\($0)", "4"] }, countLine: "loops", counts: "counting loops of 10,000"),
        BenchRuntime(
            name: "Go (sync.Mutex: parks goroutines, unseen)", source: "Tests/futex/go_mutex.go",
            tools: ["/usr/bin/go"],
            build: { go, source, dir in
                try compile([
                    "HOME=\(dir)", "GOCACHE=\(dir)/gocache", "GOPATH=\(dir)/gopath", "GOENV=off", "CGO_ENABLED=0",
                    go, "build", "-o", dir + "/go_mutex", source,
                ])
                return [dir + "/go_mutex"]
            },
            // The program takes whole seconds.
            arguments: { ["\(Int($0.rounded(.up)))", "4"] }, countLine: "heavy_ops", counts: "sync.Mutex acquisitions"),
        BenchRuntime(
            name: "Java (synchronized, then ReentrantLock)", source: "Tests/futex/JavaLocks.java",
            tools: ["/usr/bin/javac"],
            build: { javac, source, dir in
                try compile([javac, "-d", dir, source])
                return ["/usr/bin/java", "-cp", dir, "JavaLocks"]
            }, arguments: { ["\($0)", "4"] }, countLine: "monitor_ops", counts: "synchronized-block entries"),
    ]

    static let tools = ["untraced", "lockstat futex"]

    static func run(scratch: String, seconds: Double, rounds: Int) throws {
        let lockstat = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().path
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().path
        // The programs' run time counted, as when this table was first made (futex.bpf_time).
        try "modules futex\nfutex.bpf_time yes\n".write(toFile: scratch + "/futex.config", atomically: true, encoding: .utf8)
        var built = [(runtime: BenchRuntime, command: [String])]()
        var skipped = [String]()
        for runtime in runtimes {
            guard let tool = runtime.tools.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
                skipped.append("\(runtime.name): skipped, no \(runtime.tools.joined(separator: " nor "))")
                continue
            }
            let dir = scratch + "/runtime-\(built.count)"
            try makeDirectories(dir)
            built.append((runtime, try runtime.build(tool, repository + "/" + runtime.source, dir)))
        }
        // Per runtime and tool, per round: the program's count and the futex counters of lockstat's run.
        var counts = [String: [String: [Double]]]()
        var costs = [String: [(bpfMicrosPerWait: Double, lockstatCPU: Double, waits: Double, dwarf: String)]]()
        for round in 0..<rounds {
            for (runtime, command) in built {
                // The order turns each round, so each tool meets the load's moves as often as the other.
                for k in 0..<tools.count {
                    let tool = tools[(k + round) % tools.count]
                    let argv = command + runtime.arguments(seconds)
                    let text: String
                    if tool == "untraced" {
                        text = try ContentionStormBench.output(argv).text
                    } else {
                        let dir = scratch + "/runtime-run"
                        try? FileManager.default.removeItem(atPath: dir)
                        let r = try ContentionStormBench.output(
                            [lockstat + "/lockstat-run", "--quiet", "--config", scratch + "/futex.config", dir] + argv)
                        guard r.status == 0 else { throw LockstatError("lockstat-run \(runtime.name): \(r.text)") }
                        text = try String(contentsOfFile: dir + "/output", encoding: .utf8)
                        guard case .success(let bytes) = FileReader.readAll(dir + "/samples.pickle") else {
                            throw LockstatError("\(dir): no samples.pickle")
                        }
                        let c = try Unpickler.decode(bytes)["futex"]?["counters"]
                        func n(_ key: String) -> Double { c?[key]?.number ?? 0 }
                        costs[runtime.name, default: []].append(
                            (
                                n("recorded") > 0 ? n("bpf_ns") / n("recorded") / 1e3 : 0,
                                n("wall_ns") > 0 ? n("lockstat_cpu_ns") / n("wall_ns") * 100 : 0,
                                n("waits"), "\(Int(n("dwarf_stacks")))/\(Int(n("stack_copies")))"
                            ))
                    }
                    guard let count = count(text, runtime.countLine) else {
                        throw LockstatError("\(runtime.name) (\(tool)) printed no `\(runtime.countLine) N`: \(text)")
                    }
                    counts[runtime.name, default: [:]][tool, default: []].append(count)
                }
            }
        }
        print("\n## futex module: overhead per runtime (\(seconds) s a run, \(rounds) rounds, rotated)\n")
        print(
            "| runtime | throughput untraced, /s: median (min–max) "
                + "| lockstat futex / untraced, same round: median (min–max) | waits recorded | BPF µs per wait "
                + "| lockstat CPU, % of one CPU | stack copies unwound by DWARF |")
        print("|---|---|---|---|---|---|---|")
        for (runtime, _) in built {
            let c = counts[runtime.name]!
            let untraced = c["untraced"]!
            let ratios = zip(c["lockstat futex"]!, untraced).map { $0 / $1 }
            let k = costs[runtime.name]!
            print(
                "| \(runtime.name), \(runtime.counts) | \(summary(untraced.map { $0 / seconds }, "%.0f")) | "
                    + "\(summary(ratios, "%.3f")) | \(summary(k.map(\.waits), "%.0f")) | "
                    + "\(summary(k.map(\.bpfMicrosPerWait), "%.2f")) | \(summary(k.map(\.lockstatCPU), "%.2f")) | "
                    + "\(k.map(\.dwarf).joined(separator: ", ")) |")
        }
        for line in skipped { print("\n\(line)") }
    }

    /// The median and the range of `values`: `m (lo–hi)`.
    static func summary(_ values: [Double], _ format: String) -> String {
        let v = values.sorted()
        guard let lo = v.first, let hi = v.last else { return "—" }
        return String(format: format, v[v.count / 2]) + " (" + String(format: format, lo) + "–"
            + String(format: format, hi) + ")"
    }

    /// The number after `name ` on the program's last line that starts with it.
    static func count(_ text: String, _ name: String) -> Double? {
        text.split(separator: "\n").last { $0.hasPrefix(name + " ") }.flatMap { Double($0.dropFirst(name.count + 1)) }
    }

    static func compile(_ command: [String]) throws {
        let r = try ContentionStormBench.output(command)
        guard r.status == 0 else { throw LockstatError("\(command.joined(separator: " ")): \(r.text)") }
    }
}
