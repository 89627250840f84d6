import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The contention module on this machine's kernel (5.19+, root), against perf lock.
final class ContentionTests: XCTestCase {
    func workload() throws -> String {
        let exe = temporaryDirectory() + "/lock-workload"
        let cc = try shell(["cc", "-O2", "-o", exe, Fixtures.repository.path + "/Tests/vm/lock-workload.c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        return exe
    }

    func requireTracepoints() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: the contention tracepoints need root here") }
        if let reason = ContentionModule().unavailableReason(SystemRoot()) { throw XCTSkip("SKIPPED: \(reason)") }
    }

    func testContentionHeavyWorkloadInBothModes() throws {
        try requireTracepoints()
        let exe = try workload()
        for mode in ["bpf", "ring"] { try heavyWorkload(exe, mode: mode) }
    }

    func heavyWorkload(_ exe: String, mode: String) throws {
        let dir = temporaryDirectory()
        let r = try Lockstat.run(["--config", try config(mode, dir, extra: "modules contention stat\n"), dir + "/run", exe, dir, "2"])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        XCTAssertEqual(d["cost"]?["mode"]?.string, mode)
        let callers = d["callers"]!.listItems!
        let contended = callers.reduce(0.0) { $0 + $1["contended"]!.number! }
        XCTAssertGreaterThan(contended, 500)
        // Callers are kernel functions as perf prints them; the mkdir/rmdir directory lock leads.
        let name = try Regex("^[A-Za-z_][A-Za-z0-9_.]*\\+0x[0-9a-f]+$")
        for row in callers.prefix(10) where row["caller"]!.string! != "[no stack]" {
            let caller = row["caller"]!.string!
            XCTAssertNotNil(caller.wholeMatch(of: name), caller)
            XCTAssertGreaterThan(row["total_wait_ns"]!.number!, 0, caller)
            XCTAssertGreaterThanOrEqual(row["max_wait_ns"]!.number!, row["avg_wait_ns"]!.number!)
            XCTAssertGreaterThanOrEqual(row["avg_wait_ns"]!.number!, row["min_wait_ns"]!.number!)
        }
        XCTAssertTrue(callers.prefix(3).contains { ["do_mkdirat", "do_rmdir", "__x64_sys_rmdir", "filename_create"].contains(where: $0["caller"]!.string!.hasPrefix) },
                      "\(callers.prefix(3).map { $0["caller"]! })")
        // The same contentions, summed by caller, by lock and by task.
        func sum(_ key: String, _ column: String) -> Double { d[key]!.listItems!.reduce(0) { $0 + $1[column]!.number! } }
        for key in ["locks", "tasks"] {
            XCTAssertEqual(sum(key, "contended"), contended, key)
            XCTAssertEqual(sum(key, "total_wait_ns"), sum("callers", "total_wait_ns"), key)
        }
        let histogram = d["wait_histogram"]!["all"]!
        let bucketed = histogram.keys.reduce(0.0) { $0 + histogram[$1]!.number! }
        XCTAssertEqual(bucketed, contended - d["unfinished"]!.number!, "every finished wait in one log2 bucket")
        // Rates over measured time integrate back to the count, the first interval from the
        // program's start, whenever the first drain came (late on a busy machine).
        let time = d["time"]!.series!.map { $0! }, rate = d["contentions/s"]!.series!
        let integrated = time.indices.reduce(0.0) { $0 + (rate[$1] ?? 0) * (time[$1] - ($1 > 0 ? time[$1 - 1] : 0)) }
        XCTAssertEqual(integrated, contended, accuracy: contended * 1e-9)
        // Outputs: perf's table, folded stacks, the graphs (the flame graph is well-formed XML).
        let table = try String(contentsOfFile: dir + "/run/samples/contention.txt", encoding: .utf8)
        XCTAssertTrue(table.hasPrefix(" contended   total wait     max wait     avg wait            type   caller\n"), table)
        let folded = try String(contentsOfFile: dir + "/run/contention.folded", encoding: .utf8)
        XCTAssertTrue(folded.split(separator: "\n").allSatisfy { $0.split(separator: " ").last.map { UInt64($0) != nil } ?? false })
        XCTAssertTrue(folded.contains("do_mkdirat"))
        for f in ["contention_wait_top.svg", "contention_share.svg", "contention_histogram.svg", "contention_flame.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/" + f), f)
        }
        XCTAssertEqual(try shell(["python3", "-c", "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])", dir + "/run/contention_flame.svg"]).status, 0)
        let report = try Lockstat.tool(["report", dir + "/run", "--by", "lock", "--top", "3"])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertTrue(report.out.contains("   lock\n"), report.out)
    }

    /// A config for one mode of the module.
    func config(_ mode: String, _ dir: String, extra: String = "") throws -> String {
        let path = dir + "/\(mode).config"
        try "modules contention\ncontention.mode \(mode)\n\(extra)".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// perf lock record runs as the program, so its window lies inside lockstat's; what both saw
    /// of the workload is its own tasks' contentions (other work on a shared machine, and perf's
    /// start and stop, fall in lockstat's longer window only). Per task of the workload, in both
    /// modes, the counts agree within 2 % (measured here: equal); the top caller is the same.
    func testAgreesWithPerfLockRecordInBothModes() throws {
        try requireTracepoints()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else { throw XCTSkip("SKIPPED: perf (linux-perf) is not installed") }
        let exe = try workload()
        for mode in ["bpf", "ring"] {
            let dir = temporaryDirectory()
            let r = try Lockstat.run(["--config", try config(mode, dir), dir + "/run", "perf", "lock", "record", "-a", "-o", dir + "/perf.data", "--", exe, dir, "2"])
            XCTAssertEqual(r.status, 0, r.err)
            let d = try Lockstat.samples(dir + "/run")["contention"]!
            XCTAssertEqual(d["cost"]?["mode"]?.string, mode)
            let perfTasks = try PerfLock.contentionsByTask(dir + "/perf.data")
            let perfTotal = perfTasks.values.reduce(0, +)
            // The workload's tasks: named so (bpf mode keeps each task's name when it waits), or,
            // in ring mode (names are read at the end), those gone by then that did ≥ 1 % of it.
            var ours = [String: Double](), workloadTasks = Set<String>()
            for row in d["tasks"]!.listItems! {
                let task = row["task"]!.string!.split(separator: " ")
                let pid = String(task[0])
                ours[pid, default: 0] += row["contended"]!.number!
                // Task 0 (swapper: interrupts and idle on every CPU) is no task of the workload:
                // its waits fall in lockstat's longer window too.
                guard pid != "0" else { continue }
                if task.count == 2 ? task[1] == "lock-workload" : (perfTasks[pid] ?? 0) >= perfTotal * 0.01 { workloadTasks.insert(pid) }
            }
            XCTAssertGreaterThanOrEqual(workloadTasks.count, 4, "\(mode): the workload's mkdir/rmdir workers at least")
            for pid in workloadTasks {
                let theirs = perfTasks[pid] ?? 0
                XCTAssertEqual(ours[pid] ?? 0, theirs, accuracy: max(2, theirs * 0.02), "\(mode), task \(pid): lockstat \(ours[pid] ?? 0), perf \(theirs); \(d["cost"]!)")
            }
            let byCaller = try shell(["sh", "-c", "perf lock contention -i \(dir)/perf.data -E 1 2>&1"])
            let perfTop = byCaller.out.split(separator: "\n").first { $0.split(separator: " ").first.flatMap { Double($0) } != nil }?.split(separator: " ").last
            XCTAssertEqual(d["callers"]!.listItems!.first?["caller"]?.string, perfTop.map(String.init), "\(mode): the top caller")
        }
    }

    func testNotRootAndNoTracepoints() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: needs root to run the check as an unprivileged user") }
        let nobody = try shell(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", Lockstat.binaries + "/lockstat", "modules"])
        XCTAssertTrue(nobody.out.contains("contention unavailable: needs root or perf_event_paranoid <= -1"), nobody.out)
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/sys/kernel/tracing/events", withIntermediateDirectories: true)
        let absent = try Lockstat.tool(["modules", "--proc-root", root])
        XCTAssertTrue(absent.out.contains("contention unavailable: no lock:contention tracepoints in tracefs (\(root)/sys/kernel/tracing"), absent.out)
        let r = try Lockstat.run(["--proc-root", root, "--modules", "contention", root + "/run", "true"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("module contention skipped: no lock:contention tracepoints"), r.err)
    }

}
