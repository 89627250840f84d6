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

    func testContentionHeavyWorkload() throws {
        try requireTracepoints()
        let dir = temporaryDirectory(), exe = try workload()
        let r = try Lockstat.run(["--modules", "contention,stat", dir + "/run", exe, dir, "2"])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let callers = d["callers"]!.listItems!
        let contended = callers.reduce(0.0) { $0 + $1["contended"]!.number! }
        XCTAssertGreaterThan(contended, 500)
        // Callers are kernel functions as perf prints them; the mkdir/rmdir directory lock leads.
        let name = try Regex("^[A-Za-z_][A-Za-z0-9_.]*\\+0x[0-9a-f]+$")
        for row in callers.prefix(10) {
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

    /// perf lock record runs as the program, so its window lies inside lockstat's: the same
    /// events reach both. Per caller, the counts agree within 2 %; in total lockstat sees at
    /// least what perf saw, less its own lost events.
    func testAgreesWithPerfLockRecord() throws {
        try requireTracepoints()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else { throw XCTSkip("SKIPPED: perf (linux-perf) is not installed") }
        let dir = temporaryDirectory(), exe = try workload()
        let r = try Lockstat.run(["--modules", "contention", dir + "/run", "perf", "lock", "record", "-a", "-o", dir + "/perf.data", "--", exe, dir, "2"])
        XCTAssertEqual(r.status, 0, r.err)
        let perf = try shell(["sh", "-c", "perf lock contention -i \(dir)/perf.data -E 100000 2>&1"])
        var perfCounts = [String: Double]()
        for line in perf.out.split(separator: "\n") {
            let f = line.split(separator: " ")
            if f.count >= 9, let n = Double(f[0]) { perfCounts[String(f.last!), default: 0] += n }
        }
        XCTAssertGreaterThan(perfCounts.count, 3, perf.out)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        var ours = [String: Double]()
        for row in d["callers"]!.listItems! { ours[row["caller"]!.string!, default: 0] += row["contended"]!.number! }
        for (caller, count) in perfCounts.sorted(by: { $0.value > $1.value }).prefix(5) {
            XCTAssertEqual(ours[caller] ?? 0, count, accuracy: count * 0.02, "\(caller): lockstat \(ours[caller] ?? 0), perf \(count)")
        }
        let lost = d["lost"]!.number!
        XCTAssertGreaterThanOrEqual(ours.values.reduce(0, +) + lost, perfCounts.values.reduce(0, +))
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

    /// Pairing on synthetic events: nested begins, a contention on another lock inside a wait,
    /// an end without a begin, a begin without an end.
    func testPairingPerTaskAndLock() {
        let layout = TracepointLayout(beginID: 1, endID: 2)
        func e(_ type: UInt16, _ tid: UInt32, _ lock: UInt64, _ t: UInt64) -> ContentionEvent {
            ContentionEvent(tid: tid, time: t, cpu: 0, type: type, lockAddress: lock, value: 1, callchain: [])
        }
        let events = [e(2, 9, 0xA, 5), e(1, 7, 0xA, 10), e(1, 7, 0xA, 12), e(1, 7, 0xB, 20), e(2, 7, 0xB, 25), e(2, 7, 0xA, 40), e(1, 8, 0xA, 50)]
        let a = ContentionAnalysis(events: events, layout: layout, symbols: KernelSymbols(""))
        XCTAssertEqual(a.contentions.filter { $0.waited > 0 }.map(\.total), [5, 30], "B inside A; A from its first begin")
        XCTAssertEqual(a.unpaired, 1)
        XCTAssertEqual(a.unfinished, 1)
        XCTAssertEqual(a.contentions.count, 3)
        XCTAssertEqual(ContentionAnalysis.type(1), "spinlock")
        XCTAssertEqual(ContentionAnalysis.type(2 | 1), "rwlock:R")
        XCTAssertEqual(ContentionAnalysis.type(4), "rwsem:W")
        XCTAssertEqual(ContentionAnalysis.type(32), "mutex")
        XCTAssertEqual(ContentionAnalysis.duration(192_670), "192.67 us")
    }
}
