import XCTest
@testable import LockstatCore
@testable import LockstatModules

final class StatTests: XCTestCase {
    func snapshot(_ fixture: String) throws -> StatSnapshot {
        let bytes = try Fixtures.bytes(fixture)
        return bytes.withUnsafeBytes { StatSnapshot(ProcText(bytes: $0)) }
    }

    func testEveryFixtureParsesCompletely() throws {
        let files = try Fixtures.files(in: "stat")
        XCTAssertEqual(files.count, 5)
        for f in files {
            let s = try snapshot(f)
            XCTAssertEqual(s.badLines, 0, f)
            XCTAssertNotNil(s.cpus["all"], f)
            XCTAssertNotNil(s.ctxt, f)
            XCTAssertNotNil(s.processes, f)
        }
    }

    func testKernelDocTenColumns() throws {
        let s = try snapshot("stat/kdoc-2.6.33-10col.txt")
        XCTAssertEqual(Set(s.cpus.keys), ["all", "cpu0", "cpu1"])
        let all = s.cpus["all"]!
        XCTAssertEqual([all.user, all.nice, all.system, all.idle, all.iowait, all.irq, all.softirq, all.steal, all.guest, all.guestNice],
                       [2255, 34, 2290, 22625563, 6290, 127, 456, 0, 0, 0])
        XCTAssertEqual(s.cpus["cpu1"]!.idle, 11313845)
        // The doc's intr line is elided with "[... lots more numbers ...]": the total still reads.
        XCTAssertEqual(s.intr, 114930548)
        XCTAssertEqual(s.ctxt, 1990473)
        XCTAssertEqual(s.processes, 2915)
        XCTAssertEqual(s.procsRunning, 1)
        XCTAssertEqual(s.procsBlocked, 0)
        XCTAssertEqual(s.softirq, 183433)
    }

    func testSevenColumnsTenCPUs() throws {
        let s = try snapshot("stat/sysstat-10cpu-7col.txt")
        XCTAssertEqual(s.cpus.count, 11)
        let cpu9 = s.cpus["cpu9"]!
        XCTAssertEqual([cpu9.user, cpu9.nice, cpu9.system, cpu9.idle, cpu9.iowait, cpu9.irq, cpu9.softirq, cpu9.steal], [200, 2000, 200, 2000, 200, 200, 20, 0])
    }

    func testRealEightCPUCaptureWithFullIntrLine() throws {
        let s = try snapshot("stat/procfs-8cpu-10col.txt")
        XCTAssertEqual(s.cpus.count, 9)
        XCTAssertEqual(s.cpus["cpu7"]!.nice, 268)
        XCTAssertEqual(s.intr, 73777505)
        XCTAssertEqual(s.procsBlocked, 1)
        let v = try snapshot("stat/vm-6.18-2cpu.txt")
        XCTAssertEqual(v.cpus["all"]!.steal, 641)
        XCTAssertEqual(v.procsRunning, 5)
    }

    /// sysstat's own test pair: tests/root6 then tests/root5 (1 s apart here). Between them cpu9
    /// goes offline, cpu3 comes back from offline (idle and iowait restart), the cpu lines grow
    /// from 7 to 10 columns, and guest time appears.
    func testSysstatPairPercentages() throws {
        let log = try rawLog(snapshots: [try Fixtures.bytes("stat/sysstat-10cpu-7col.txt"),
                                         try Fixtures.bytes("stat/sysstat-steal-guest-10col.txt")],
                             times: [0.5, 1.5])
        let parsed = try StatModule().parse(log, config: Config(modules: ["stat"]))
        let cpu = parsed.data["cpu"]!
        func pct(_ c: String, _ f: String) -> Double? { cpu[c]?[f]?.series?[1] }
        XCTAssertNil(cpu["all"]!["usr"]!.series![0], "the first sample has no interval")

        // all: usr = Δ(user−guest) = (99497−150)−94891 = 4456; nice = (2590985−25)−2581673 = 9287;
        // sys 4110; idle 77821; iowait went 58343 → 58317 while idle advanced: 0; irq 319; soft 251;
        // steal 100; guest 150; gnice 25. Total 96519 ticks.
        let total = 96519.0
        assertClose(pct("all", "usr"), 4456 / total * 100)
        assertClose(pct("all", "nice"), 9287 / total * 100)
        assertClose(pct("all", "sys"), 4110 / total * 100)
        assertClose(pct("all", "idle"), 77821 / total * 100)
        assertClose(pct("all", "iowait"), 0)
        assertClose(pct("all", "irq"), 319 / total * 100)
        assertClose(pct("all", "soft"), 251 / total * 100)
        assertClose(pct("all", "steal"), 100 / total * 100)
        assertClose(pct("all", "guest"), 150 / total * 100)
        assertClose(pct("all", "gnice"), 25 / total * 100)

        // cpu3 came back online: idle 141836 → 273 and iowait 5620 → 28 restart from 0.
        // usr 368, nice 6216, sys 194, idle 273, iowait 28, irq 46, soft 21: 7146 ticks.
        assertClose(pct("cpu3", "usr"), 368 / 7146 * 100)
        assertClose(pct("cpu3", "idle"), 273 / 7146 * 100)
        assertClose(pct("cpu3", "iowait"), 28 / 7146 * 100)

        // cpu8: nice went 1000 → 33 (clamped to 0), iowait 100 → 0 without a restart (0).
        // usr (1635−150)−100 = 1385, sys 2245, idle 98, irq 164, soft 43, steal 100, guest 150, gnice 25: 4210.
        assertClose(pct("cpu8", "usr"), 1385 / 4210 * 100)
        assertClose(pct("cpu8", "nice"), 0)
        assertClose(pct("cpu8", "sys"), 2245 / 4210 * 100)

        // cpu9 went offline: no value.
        XCTAssertNil(pct("cpu9", "usr"))
        XCTAssertEqual(parsed.data["n_cpu"], .int(10))

        // Rates over the measured 1 s: ctxt 138969137 − 130465866; forks 47493 − 46972; intr 99525101 − 95105080.
        assertClose(parsed.data["ctxt/s"]!.series![1], 8503271, accuracy: 1e-3)
        assertClose(parsed.data["fork/s"]!.series![1], 521, accuracy: 1e-6)
        assertClose(parsed.data["intr/s"]!.series![1], 4420021, accuracy: 1e-3)
        assertClose(parsed.data["procs_running"]!.series![1], 5)
        for c in ["all", "cpu0", "cpu3", "cpu8"] {
            let sum = CPUUtilization.fields.compactMap { pct(c, $0) }.reduce(0, +)
            XCTAssertEqual(sum, 100, accuracy: 1e-9, "\(c) percentages sum to 100")
        }
    }

    func testRatesDivideByMeasuredTime() throws {
        let a = try Fixtures.bytes("stat/kdoc-2.6.33-10col.txt")
        let b = Array(String(decoding: a, as: UTF8.self).replacingOccurrences(of: "ctxt 1990473", with: "ctxt 1991473").utf8)
        // 1000 context switches over a measured 0.25 s, although the nominal interval is 0.1 s.
        let log = try rawLog(snapshots: [a, b], times: [0.0, 0.25])
        let data = try StatModule().parse(log, config: Config(modules: ["stat"])).data
        assertClose(data["ctxt/s"]!.series![1], 4000, accuracy: 1e-6)
        // No CPU ticks passed: mpstat shows such a CPU as 100 % idle.
        assertClose(data["cpu"]!["cpu0"]!["idle"]!.series![1], 100)
    }

    func testTruncatedAndGarbledLinesAreCountedTheRestParses() throws {
        let full = String(decoding: try Fixtures.bytes("stat/kdoc-2.6.33-10col.txt"), as: UTF8.self)
        let cut = full.prefix(upTo: full.range(of: "procs_running")!.lowerBound) + "procs_runn"
        let garbled = full.replacingOccurrences(of: "cpu1 1123 0 849", with: "cpu1 11x3 0 849")
            .replacingOccurrences(of: "ctxt 1990473", with: "ctxt 1990473\n%%%% nonsense\ncpu2 1 2")
        for (text, bad) in [(String(cut), 1), (garbled, 3)] {
            let s = Array(text.utf8).withUnsafeBytes { StatSnapshot(ProcText(bytes: $0)) }
            XCTAssertEqual(s.badLines, bad)
            XCTAssertNotNil(s.cpus["all"])
            XCTAssertEqual(s.ctxt, 1990473)
        }
    }

    func testThisMachinesProcStat() throws {
        guard case .success(let bytes) = FileReader.readAll("/proc/stat") else { return XCTFail("no /proc/stat") }
        let s = bytes.withUnsafeBytes { StatSnapshot(ProcText(bytes: $0)) }
        XCTAssertEqual(s.badLines, 0)
        XCTAssertEqual(s.cpus.count - 1, sysconf(Int32(_SC_NPROCESSORS_ONLN)))
        XCTAssertGreaterThan(bytes.count, 0)
    }
}
