import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The end-of-run summary's layout: each module's lines from its model, 80 columns, numbers as
/// the report prints them.
final class TerminalSummaryTests: XCTestCase {
    func row(_ caller: String, _ contended: Int, total: UInt64, max: UInt64) -> ContentionModel.Row {
        ContentionModel.Row(key: caller, type: "rwsem:W", contended: contended, total: total, max: max, min: 1, avg: 1)
    }

    func contention(_ callers: [ContentionModel.Row]) -> ContentionModel {
        ContentionModel(
            time: [0, 1], all: .init(contentions: [.nan, 1], waitMicroseconds: [.nan, 1]), topCallers: [],
            callers: callers, locks: [], tasks: [], owners: [], histograms: [], folded: [], lost: 0,
            cost: .init(mode: "bpf", counters: [("contentions", 10)]), unpaired: 0, unfinished: 0)
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
