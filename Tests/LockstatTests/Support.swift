import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Paths and helpers shared by the tests.
enum Fixtures {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The /proc captures: the unit tier's resources, read here in the repository.
    static let directory = repository.appendingPathComponent("Tests/LockstatUnitTests/Fixtures")

    static func bytes(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> [UInt8] {
        let path = directory.appendingPathComponent(relative).path
        guard case .success(let b) = FileReader.readAll(path) else {
            XCTFail("fixture missing: \(path)", file: file, line: line)
            throw LockstatError("fixture missing: \(path)")
        }
        return b
    }

    static func files(in sub: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory.appendingPathComponent(sub).path)
            .filter { $0.hasSuffix(".txt") }.sorted().map { sub + "/" + $0 }
    }
}

/// A fresh temporary directory under /var/tmp (a real disk here, unlike a tmpfs /tmp elsewhere).
func temporaryDirectory(_ name: String = #function) -> String {
    let safe = name.filter { $0.isLetter || $0.isNumber }
    let path = "/var/tmp/lockstat-tests/\(safe)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try? FileManager.default.removeItem(atPath: path)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}

/// Polls `condition` until it holds or `seconds` pass; whether it held.
func eventually(_ seconds: Double, _ condition: () -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if condition() { return true }
        usleep(10_000)
    }
    return condition()
}

/// Snapshots of stream 0 a running lockstat has written to a raw log so far (0 before its header).
func snapshotsWritten(_ path: String) -> Int { (try? RawLog.read(path: path).snapshots().count) ?? 0 }

/// A RawLog built in memory from snapshots, as the sampler would have written them.
func rawLog(snapshots: [[UInt8]], times: [Double], stream: UInt16 = 0, side: [(UInt16, String)] = []) throws -> RawLog {
    let dir = temporaryDirectory("rawlog")
    let path = dir + "/m.log"
    let writer = try RawLogWriter(path: path)
    let start: UInt64 = 1_000_000_000
    writer.append(kind: .header, tick: 0, time: start, text: "module m\ninterval_ns 100000000\nstart_ns \(start)\n")
    for (stream, text) in side { writer.append(kind: .side, stream: stream, tick: 0, time: 0, text: text) }
    for (i, s) in snapshots.enumerated() {
        s.withUnsafeBytes { writer.append(kind: .snapshot, stream: stream, tick: UInt64(i), time: start + UInt64(times[i] * 1e9), payload: $0) }
    }
    return try RawLog.read(path: path)
}

/// Runs a command found on PATH, returns (exit status, stdout, stderr).
@discardableResult
func shell(_ arguments: [String], environment: [String: String]? = nil) throws -> (status: Int32, out: String, err: String) {
    let r = try ScriptProcess.run("/usr/bin/env", arguments, environment: environment)
    return (r.status, String(decoding: r.stdout, as: UTF8.self), r.stderr)
}

/// Skips unless the contention module's bpf mode can run here (root, tracepoints, BTF).
func requireContentionBPF() throws {
    guard getuid() == 0 else { throw XCTSkip("SKIPPED: bpf mode needs root") }
    if let reason = ContentionModule().unavailableReason(SystemRoot()) ?? ContentionModule.bpfRefusal(SystemRoot()) {
        throw XCTSkip("SKIPPED: \(reason)")
    }
}

/// Skips unless the futex module can run here (root, BTF, x86-64).
func requireFutexModule() throws {
    guard getuid() == 0 else { throw XCTSkip("SKIPPED: the futex module needs root") }
    if let reason = FutexModule().unavailableReason(SystemRoot()) { throw XCTSkip("SKIPPED: \(reason)") }
}

/// Tests/futex/futex_truth.c built -O2 with frame pointers (the program's; glibc has none) at `path`.
func compileFutexTruth(at path: String) throws {
    let cc = try shell([
        "cc", "-O2", "-fno-omit-frame-pointer", "-pthread", "-o", path,
        Fixtures.repository.path + "/Tests/futex/futex_truth.c",
    ])
    XCTAssertEqual(cc.status, 0, cc.err)
}

/// futex_truth built in `dir` and run for 1 s with 4 threads under `lockstat run` with the futex
/// module only: the run's directory (`dir`/run).
func runFutexTruth(in dir: String) throws -> String {
    let exe = dir + "/futex_truth"
    try compileFutexTruth(at: exe)
    try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
    let run = try Lockstat.run(["--config", dir + "/f.config", dir + "/run", exe, "1", "4"], quiet: false)
    XCTAssertEqual(run.status, 0, run.err)
    return dir + "/run"
}

/// A storm of Tests/contention compiled into a temporary directory; its path.
func compileContentionStorm(_ source: String, name: String = #function) throws -> String {
    let exe = temporaryDirectory(name) + "/" + source.split(separator: ".")[0]
    let cc = try shell(["cc", "-O2", "-pthread", "-o", exe, Fixtures.repository.path + "/Tests/contention/" + source])
    XCTAssertEqual(cc.status, 0, cc.err)
    return exe
}

/// perf lock, the peer of the contention module.
enum PerfLock {
    /// `perf lock contention -t` of a perf.data: contentions by task id.
    static func contentionsByTask(_ data: String) throws -> [String: Double] {
        let r = try shell(["sh", "-c", "perf lock contention -i \(data) -t -E 100000 2>&1"])
        var tasks = [String: Double]()
        for line in r.out.split(separator: "\n") {
            // "   3023    1.33 s    24.02 ms    439.87 us    16692   :16692": count … pid comm
            let f = line.split(separator: " ")
            if f.count >= 9, let n = Double(f[0]) { tasks[String(f[f.count - 2]), default: 0] += n }
        }
        return tasks
    }
}

/// The BPF run-time statistics switch, as anyone sees it (lockstat never writes it).
func bpfStatsSwitch() -> String {
    ((try? FileReader.readText("/proc/sys/kernel/bpf_stats_enabled").get()) ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
}

/// Whether process `pid` holds a BPF_ENABLE_STATS descriptor (the kernel names its inode
/// "bpf-stats"): lockstat's statistics window is open.
func holdsBPFStatsDescriptor(_ pid: pid_t) -> Bool {
    let fds = "/proc/\(pid)/fd"
    for fd in (try? FileManager.default.contentsOfDirectory(atPath: fds)) ?? [] {
        if (try? FileManager.default.destinationOfSymbolicLink(atPath: fds + "/" + fd)) == "anon_inode:bpf-stats" { return true }
    }
    return false
}
