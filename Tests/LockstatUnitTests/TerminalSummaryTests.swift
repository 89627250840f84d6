import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The end-of-run summary's layout: each module's lines from its model, 80 columns, numbers as
/// the report prints them.
final class TerminalSummaryTests: XCTestCase {
    func row(_ caller: String, _ contended: Int, total: UInt64, max: UInt64) -> ContentionModel.Row {
        ContentionModel.Row(key: caller, type: "rwsem:W", contended: contended, total: total, max: max, min: 1, avg: 1)
    }

    func contention(
        _ callers: [ContentionModel.Row], wakers: [ContentionModel.Waker]? = nil, owners: [ContentionModel.Owner] = [],
        callerLocks: [ContentionModel.CallerLock]? = nil
    ) -> ContentionModel {
        ContentionModel(
            time: [0, 1], all: .init(contentions: [.nan, 1], waitMicroseconds: [.nan, 1]), topCallers: [],
            callers: callers, locks: [], tasks: [], owners: owners, histograms: [], folded: [], lost: 0,
            cost: .init(mode: "bpf", counters: [("contentions", 10)]), unpaired: 0, unfinished: 0, wakers: wakers,
            callerLocks: callerLocks)
    }

    func waker(_ caller: String, _ wakeClass: String, _ site: String, total: UInt64) -> ContentionModel.Waker {
        ContentionModel.Waker(
            lock: "ffff888003a1c2b0", type: "rwsem:W", caller: caller, wakeClass: wakeClass, waker: site,
            wakerStack: "", wakerUserStack: "", contended: 1, total: total)
    }

    func stat(_ overRun: [(String, busy: Double, usr: Double)]) -> StatModel {
        let fields = CPUUtilization.fields
        return StatModel(
            time: Column([0, 1]), cpuCount: 2, cpus: [], avgCPU: [], contextSwitches: Column(), interrupts: Column(),
            softirqs: Column(), forks: Column(), running: Column(), blocked: Column(),
            overRun: overRun.map { cpu in
                (cpu.0, fields.map { $0 == "idle" ? 100 - cpu.busy : $0 == "usr" ? cpu.usr : $0 == "sys" ? 1.5 : 0 })
            }, badLines: 0)
    }

    func disks(_ overRun: [(String, util: Double)], whole: [String]) -> DiskstatsModel {
        DiskstatsModel(
            time: Column([0, 1]), devices: [], wholeDisks: whole,
            overRun: overRun.map { d in
                (d.0, IostatMetrics.columns.map { ["%util": d.util, "r/s": 3, "w/s": 1234.5, "w_await": 2.25][$0] ?? 0 })
            }, badLines: 0)
    }

    func testTheTopFiveCallersByTotalWaitWithTheirShareAndTheReportsNumbers() throws {
        let callers = (1...7).map { row("caller\($0)+0x\($0)", $0 * 10, total: UInt64($0) * 1_000_000, max: 250_000) }
        let model = contention(callers)
        let lines = try XCTUnwrap(model.summary(width: 78)).lines
        XCTAssertEqual(lines.count, 1 + 1 + 5, "a title, a header, five rows: \(lines)")
        XCTAssertTrue(lines[0].contains("7 in `lockstat report`"), lines[0])
        XCTAssertEqual(lines[1].split(separator: " ").map(String.init),
                       ["contended", "total", "wait", "max", "wait", "share", "type", "caller"])
        // Most wait first: caller7 has 7 ms of the 28 ms the run waited.
        let first = lines[2].split(separator: " ").map(String.init)
        XCTAssertEqual(first, ["70", "7.00", "ms", "250.00", "us", "25.0", "%", "rwsem:W", "caller7+0x7"])
        let table = model.results.tables[0]
        let report = TableReport.text(table, sort: nil, top: 5)
        XCTAssertTrue(report.contains("70     7.00 ms  250.00 us"), "the report prints the same numbers: \(report)")
        XCTAssertEqual(lines.last!.split(separator: " ").last, "caller3+0x3", "the fifth by wait")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 78 })
    }

    /// A caller no frame named (its stack all lock functions, or none) is `[unknown]`, one word: the
    /// columns stay whole (a CI run's row had lost its caller column: 7 words for 8 headers).
    func testACallerWithNoNameKeepsItsColumn() throws {
        let model = contention([row("", 216, total: 900_430, max: 10_000)], wakers: [])
        let lines = try XCTUnwrap(model.summary(width: 78)).lines
        XCTAssertEqual(lines[2].split(separator: " ").map(String.init),
                       ["216", "900.43", "us", "100.0", "%", "rwsem:W", "[unknown]", "-"])
    }

    func testALongCallerIsCutToTheWidth() throws {
        let long = String(repeating: "very_long_function_name_", count: 6) + "+0x10"
        let lines = try XCTUnwrap(contention([row(long, 3, total: 5_000, max: 4_000)]).summary(width: 78)).lines
        XCTAssertEqual(lines.map(\.count).max(), 78)
        XCTAssertTrue(lines[2].hasSuffix("…"), lines[2])
    }

    /// lock_stat's classes, from two real /proc/lock_stat captures of a 6.1 kernel.
    func testTheLockStatClassesThatWaitedLongestWithTheReportsNumbers() throws {
        let snapshots = try ["lock_stat/vm-6.1-idle.txt", "lock_stat/vm-6.1-workload.txt"].map(Fixtures.bytes)
        let model = try LockStatModule().parse(rawLog(snapshots: snapshots, times: [0, 1]), config: Config(modules: ["lock_stat"])).model
        let lines = try XCTUnwrap(model.summary(width: 78)).lines
        XCTAssertTrue(lines[0].hasPrefix("most contended lock classes (lock_stat; "), lines[0])
        XCTAssertEqual(lines[1].split(separator: " ").map(String.init), ["contended", "total", "wait", "max", "wait", "share", "class"])
        XCTAssertEqual(lines.count, 2 + 5, "\(lines)")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 78 }, "\(lines)")
        let report = TableReport.text(model.results.tables[0], sort: nil, top: 1).split(separator: "\n")[1]
        XCTAssertEqual(Array(lines[2].split(separator: " ").prefix(5)), Array(report.split(separator: " ").prefix(5)),
                       "contended, total and max wait as the report prints them")
    }

    /// contention.wakers: each caller's releaser (the task site that ended most of its wait, "-"
    /// where none did) in max wait's place, so the rows still fit; long names cut, never wrapped.
    func testWithWakersEachCallerNamesItsReleaserInEightyColumns() throws {
        let callers = [
            row("filename_create+0x8a", 30, total: 7_000_000, max: 250_000),
            row("do_rmdir+0x9c", 20, total: 2_000_000, max: 100_000),
            row("__futex_wait+0x7b", 10, total: 1_000_000, max: 1_000),
        ]
        let wakers = [
            waker("filename_create+0x8a", "task", "done_path_create+0x3d", total: 2_000_000),
            waker("filename_create+0x8a", "task", "do_rmdir+0x17b", total: 4_000_000),
            waker("filename_create+0x8a", "signal", "no waker (signal)", total: 1_000_000),
            waker("do_rmdir+0x9c", "kthread", "worker_fn+0x10", total: 2_000_000),
            waker("__futex_wait+0x7b", "spinning", "no waker (spinning)", total: 1_000_000),
        ]
        let lines = try XCTUnwrap(contention(callers, wakers: wakers).summary(width: 78)).lines
        XCTAssertEqual(lines.count, 2 + 3, "\(lines)")
        XCTAssertEqual(
            lines[1].split(separator: " ").map(String.init),
            ["contended", "total", "wait", "share", "type", "caller", "released", "by"])
        XCTAssertEqual(
            lines[2].split(separator: " ").map(String.init),
            ["30", "7.00", "ms", "70.0", "%", "rwsem:W", "filename_create+0x8a", "do_rmdir+0x17b"],
            "the site that ended most of the caller's wait, signals not one")
        XCTAssertEqual(lines[3].split(separator: " ").last, "worker_fn+0x10", "a kernel thread's site")
        XCTAssertEqual(lines[4].split(separator: " ").last, "-", "a spinlock's waiters: nobody woke them")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 78 }, "\(lines)")

        // Names too long for the line: both cut to one width, the line full.
        let long = String(repeating: "very_long_function_name_", count: 3)
        let cut = try XCTUnwrap(
            contention(
                [row(long + "caller+0x1", 3, total: 5_000, max: 4_000)],
                wakers: [waker(long + "caller+0x1", "task", long + "releaser+0x2", total: 5_000)]
            ).summary(width: 78)
        ).lines
        XCTAssertTrue((77...78).contains(cut[2].count), "full but for the column two equal cuts leave: \(cut)")
        let names = cut[2].split(separator: " ").suffix(2).map(String.init)
        XCTAssertTrue(names.allSatisfy { $0.hasSuffix("…") }, "\(cut)")
        XCTAssertEqual(names[0].count, names[1].count, "cut to one width: \(cut)")
        XCTAssertTrue((long + "caller+0x1").hasPrefix(names[0].dropLast()), "\(cut)")
        XCTAssertTrue((long + "releaser+0x2").hasPrefix(names[1].dropLast()), "\(cut)")
    }

    /// Owners without wakers: each caller's row names the top owner of the lock it waited on
    /// longest ("-" where none was seen: a spinlock); read back from the entry, the same lines.
    func testWithOwnersEachCallerNamesItsLocksTopOwner() throws {
        let callers = [
            row("filename_create+0x8a", 30, total: 7_000_000, max: 250_000),
            row("__futex_wait+0x7b", 10, total: 1_000_000, max: 1_000),
        ]
        let model = contention(
            callers,
            owners: [
                ContentionModel.Owner(owner: "41 storm", lock: "ffff888003a1c2b0", contended: 9, total: 2_000_000),
                ContentionModel.Owner(owner: "42 storm", lock: "ffff888003a1c2b0", contended: 3, total: 5_000_000),
                ContentionModel.Owner(owner: "43 other", lock: "ffff888004000000", contended: 50, total: 9_000_000),
            ],
            callerLocks: [
                ContentionModel.CallerLock(caller: "filename_create+0x8a", lock: "ffff888003a1c2b0", total: 6_000_000),
                ContentionModel.CallerLock(caller: "__futex_wait+0x7b", lock: "ffff888005000000", total: 1_000_000),
            ])
        let lines = try XCTUnwrap(model.summary(width: 78)).lines
        XCTAssertEqual(
            lines[1].split(separator: " ").map(String.init),
            ["contended", "total", "wait", "share", "type", "caller", "owner"])
        XCTAssertTrue(
            lines[2].hasSuffix("filename_create+0x8a  42 storm"), "the most wait, not the most waits: \(lines)")
        XCTAssertTrue(lines[3].hasSuffix("__futex_wait+0x7b     -"), "\(lines)")
        let back = try ContentionModel(entry: model.entry)
        XCTAssertEqual(back.callerLocks, model.callerLocks)
        XCTAssertEqual(back.summary(width: 78)?.lines, lines)
        XCTAssertEqual(
            contention(callers, owners: model.owners).summary(width: 78)?.lines[1].split(separator: " ").last, "caller",
            "owners without the callers' locks (a log from before them): no owner column")
    }

    /// The cut falls on the widest names only: a short one (the type) stays whole.
    func testTheTableCutsTheWidestNamesFirst() {
        let lines = TerminalSummary.table(
            header: ["n", "type", "caller", "site"],
            rows: [["1", "rwsem:W", String(repeating: "c", count: 40), "short"]],
            numbers: 1, width: 40)
        XCTAssertEqual(lines[1], "1  rwsem:W  " + String(repeating: "c", count: 20) + "…  short", "\(lines)")
        XCTAssertEqual(lines.map(\.count).max(), 40)
    }

    func testNoContentionSaysSo() throws {
        XCTAssertEqual(contention([]).summary(width: 78)?.lines, ["contention: no lock was contended in the run"])
    }

    func testTheCPULineNamesTheBusiestCPUAndAllsTimes() throws {
        let lines = try XCTUnwrap(stat([("all", 50, 40), ("cpu0", 30, 20), ("cpu1", 70, 60)]).summary(width: 78)).lines
        XCTAssertEqual(lines, ["CPU: busiest cpu1 70.00 % busy; all 40.00 % usr, 1.50 % sys, 0.00 % iowait"])
    }

    func testTheDiskLineNamesTheBusiestWholeDisk() throws {
        let model = disks([("vda", 10), ("vda1", 99), ("vdb", 20)], whole: ["vda", "vdb"])
        XCTAssertEqual(
            model.summary(width: 78)?.lines,
            ["disk vdb: 20.00 % util, 3 r/s, 1234.50 w/s, r_await 0 ns, w_await 2.25 ms"],
            "a partition is not a disk of its own")
        XCTAssertEqual(disks([], whole: ["vda"]).summary(width: 78)?.lines, ["disks: no I/O in the run"])
    }

    func testRankingsComeBeforeOverviewsAndEveryLineFits80Columns() throws {
        let models: [(module: String, model: any ModuleModel)] = [
            ("stat", stat([("all", 50, 40), ("cpu0", 100, 99.99)])),
            ("diskstats", disks([("nvme0n1", 100)], whole: ["nvme0n1"])),
            ("contention", contention([row(String(repeating: "x", count: 200), 123_456, total: 10_000_000_000, max: 9)])),
        ]
        let lines = TerminalSummary.lines(models)
        XCTAssertTrue(lines[0].hasPrefix("  most contended locks"), "\(lines)")
        let cpu = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("  CPU: ") }, "\(lines)")
        XCTAssertTrue(lines[cpu + 1].hasPrefix("  disk nvme0n1: "), "\(lines)")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 80 }, "\(lines)")
    }

    func testLongLinesBreakAfterCommasNeverBetweenANumberAndItsUnit() {
        let line = "  contention (bpf): 775.9 k contentions, 0 lost, lockstat 0.1 % of one CPU, BPF 22.6 % of the CPUs"
        let lines = TerminalSummary.wrapped(line)
        XCTAssertEqual(lines, [
            "  contention (bpf): 775.9 k contentions, 0 lost, lockstat 0.1 % of one CPU,",
            "    BPF 22.6 % of the CPUs",
        ])
        let words = "  " + Array(repeating: "word", count: 40).joined(separator: " ")
        XCTAssertTrue(TerminalSummary.wrapped(words).allSatisfy { $0.count <= 80 })
        let path = "/" + String(repeating: "d", count: 90) + "/index.html:"
        let pathLines = TerminalSummary.wrapped("  open \(path) the whole run on one page")
        XCTAssertTrue(pathLines.contains { $0.hasSuffix(path) }, "a path stays whole: \(pathLines)")
        XCTAssertTrue(pathLines.allSatisfy { $0.count <= 80 || $0.hasSuffix(path) })
    }

    func testValuesCarryUnits() {
        let rate = ResultColumn("r/s", "r/s", unit: "1/s", kind: .rate)
        XCTAssertEqual(TerminalSummary.value(2.5, ResultColumn("x", "x", unit: "kB/s", kind: .rate)), "2.50 kB/s")
        XCTAssertEqual(TerminalSummary.value(2.5, ResultColumn("x", "x", unit: "%", kind: .percent)), "2.50 %")
        XCTAssertEqual(TerminalSummary.value(2_500, ResultColumn("x", "x", unit: "ns", kind: .time)), "2.50 us")
        XCTAssertEqual(TerminalSummary.value(7, ResultColumn("x", "x", unit: "1", kind: .count)), "7")
        XCTAssertEqual(TerminalSummary.value(.nan, rate), "-")
    }
}
