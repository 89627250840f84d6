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

        // all, as mpstat prints it (mpstat.c get_global_cpu_mpstats): the sum of the online CPUs'
        // lines, each corrected by rd_stats.c get_per_cpu_interval, over the sum of their
        // intervals; cpu9 is offline (its last line stands, adding nothing); the kernel's total
        // line is not used. (Before sysstat-exact CPU sums, this read the total line: 4456/96519.)
        // Intervals: cpu0 12289, cpu1 12247, cpu2 12279, cpu3 7146, cpu4 12274, cpu5 12254,
        // cpu6 12270, cpu7 12290, cpu8 4185: 97234 ticks.
        // Sums of corrected deltas: user−guest 4654, nice−guest_nice 11287 (cpu8's nice went
        // 1000 → 33: −967 in the sum, as mpstat's unsigned sums have it), sys 4309, idle 74658
        // (cpu3's previous idle reset to 0), iowait 293 (cpu3's previous iowait reset to 0: idle
        // did not rise; cpu8's set to its current 0: idle rose), irq 519, soft 272, steal 100,
        // guest 150, gnice 25.
        let total = 97234.0
        assertClose(pct("all", "usr"), 4654 / total * 100)
        assertClose(pct("all", "nice"), 11287 / total * 100)
        assertClose(pct("all", "sys"), 4309 / total * 100)
        assertClose(pct("all", "idle"), 74658 / total * 100)
        assertClose(pct("all", "iowait"), 293 / total * 100)
        assertClose(pct("all", "irq"), 519 / total * 100)
        assertClose(pct("all", "soft"), 272 / total * 100)
        assertClose(pct("all", "steal"), 100 / total * 100)
        assertClose(pct("all", "guest"), 150 / total * 100)
        assertClose(pct("all", "gnice"), 25 / total * 100)
        // iostat's avg-cpu on the kernel's total line: Δtotal = (99497+2590985+56814+2987296+58317
        // +28246+26106+100) − (94891+2581673+52704+2909475+58343+27927+25855) = 96493; %user counts
        // guest (Δuser 4606), %system = Δ(sys+irq+soft) 4110+319+251, iowait went down: 0.
        let avg = parsed.data["avg-cpu"]!
        assertClose(avg["user"]?.series?[1] ?? nil, 4606 / 96493 * 100)
        assertClose(avg["system"]?.series?[1] ?? nil, 4680 / 96493 * 100)
        assertClose(avg["iowait"]?.series?[1] ?? nil, 0)
        assertClose(avg["idle"]?.series?[1] ?? nil, 77821 / 96493 * 100)

        // cpu3 came back online: idle 141836 → 273 and iowait 5620 → 28 restart from 0.
        // usr 368, nice 6216, sys 194, idle 273, iowait 28, irq 46, soft 21: 7146 ticks.
        assertClose(pct("cpu3", "usr"), 368 / 7146 * 100)
        assertClose(pct("cpu3", "idle"), 273 / 7146 * 100)
        assertClose(pct("cpu3", "iowait"), 28 / 7146 * 100)

        // cpu8: nice went 1000 → 33 (0, and 0 in the interval), iowait 100 → 0 while idle rose
        // (the kernel moved it to idle: 0). Interval: Δuser 1535 + Δsys 2245 + Δidle 98 + Δsteal 100
        // + Δirq 164 + Δsoft 43 = 4185; usr (1635−150)−100 = 1385. (The interval was 4210 before:
        // the sum of the shown columns; mpstat's percentages of cpu8 add up to 4210/4185.)
        assertClose(pct("cpu8", "usr"), 1385 / 4185 * 100)
        assertClose(pct("cpu8", "nice"), 0)
        assertClose(pct("cpu8", "sys"), 2245 / 4185 * 100)
        assertClose(pct("cpu8", "gnice"), 25 / 4185 * 100)

        // cpu9 went offline: no value.
        XCTAssertNil(pct("cpu9", "usr"))
        XCTAssertEqual(parsed.data["n_cpu"], .int(10))

        // Rates over the measured 1 s: ctxt 138969137 − 130465866; forks 47493 − 46972; intr 99525101 − 95105080.
        assertClose(parsed.data["ctxt/s"]!.series![1], 8503271, accuracy: 1e-3)
        assertClose(parsed.data["fork/s"]!.series![1], 521, accuracy: 1e-6)
        assertClose(parsed.data["intr/s"]!.series![1], 4420021, accuracy: 1e-3)
        assertClose(parsed.data["procs_running"]!.series![1], 5)
        // Percentages add up to 100 where no counter went backwards.
        for c in ["cpu0", "cpu3"] {
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

    // sysstat's rules in the corner cases (rd_stats.c get_per_cpu_interval, mpstat.c
    // get_global_cpu_mpstats of sysstat master c1eb661a), with the values mpstat -P ALL prints.

    func cpu(_ texts: [String]) throws -> PyValue {
        let log = try rawLog(snapshots: texts.map { Array($0.utf8) }, times: texts.indices.map(Double.init))
        return try StatModule().parse(log, config: Config(modules: ["stat"])).data["cpu"]!
    }

    /// cpu1 goes offline, so the kernel's total line loses its idle (1800 → 1000): `all` is the
    /// online CPUs' sum, not a restart of the total line (which would say 96 % idle). Then cpu1
    /// comes back with idle restarted from 0 and user and system continuing: mpstat takes its
    /// last line as the previous one.
    func testAllIsTheSumOfOnlineCPUsAndACPUComesBackFromItsLastLine() throws {
        let a = "cpu  100 0 100 1800 0 0 0\ncpu0 50 0 50 900 0 0 0\ncpu1 50 0 50 900 0 0 0\n"
        let b = "cpu  70 0 70 1000 0 0 0\ncpu0 70 0 70 1000 0 0 0\n"
        let c = "cpu  130 0 130 1130 0 0 0\ncpu0 70 0 70 1100 0 0 0\ncpu1 60 0 60 30 0 0 0\n"
        let data = try cpu([a, b, c])
        func at(_ name: String, _ field: String, _ i: Int) -> Double? { data[name]?[field]?.series?[i] ?? nil }
        // b: cpu0 Δ 20 usr, 20 sys, 100 idle = 140 ticks; cpu1 offline adds nothing.
        assertClose(at("all", "usr", 1), 20.0 / 140 * 100)
        assertClose(at("all", "idle", 1), 100.0 / 140 * 100)
        XCTAssertNil(at("cpu1", "usr", 1), "offline")
        // c: cpu1 from its last line (a): usr 10, sys 10, idle 0 → 30 (restarted): 50 ticks.
        assertClose(at("cpu1", "usr", 2), 10.0 / 50 * 100)
        assertClose(at("cpu1", "idle", 2), 30.0 / 50 * 100)
        // all at c: cpu0 100 idle + cpu1's 50 ticks = 150.
        assertClose(at("all", "usr", 2), 10.0 / 150 * 100)
        assertClose(at("all", "idle", 2), 130.0 / 150 * 100)
    }

    /// A CPU first seen mid-run has no previous line: mpstat leaves it out of that interval.
    func testACPUNeverSeenBeforeIsLeftOutOfItsFirstInterval() throws {
        let a = "cpu  50 0 50 900 0 0 0\ncpu0 50 0 50 900 0 0 0\ncpu1 0 0 0 0 0 0 0\n"
        let b = "cpu  70 0 70 1100 0 0 0\ncpu0 60 0 60 980 0 0 0\ncpu2 10 0 10 120 0 0 0\n"
        let data = try cpu([a, b])
        XCTAssertNil(data["cpu2"]?["usr"]?.series?[1] ?? nil)
        assertClose(data["all"]?["usr"]?.series?[1] ?? nil, 10.0 / 100 * 100, "cpu0 alone: 10 + 10 + 80 ticks")
    }

    /// get_per_cpu_interval: iowait going backwards while idle rose is the kernel moving wait time
    /// to idle (0 in the interval); iowait going backwards while idle did not rise is a restart
    /// (the whole counter counts).
    func testFallingIowaitDependsOnIdle() throws {
        let a = "cpu  100 0 0 500 50 0 0\ncpu0 100 0 0 500 50 0 0\n"
        let rose = try cpu([a, "cpu  110 0 0 510 40 0 0\ncpu0 110 0 0 510 40 0 0\n"])
        assertClose(rose["cpu0"]?["iowait"]?.series?[1] ?? nil, 0)
        assertClose(rose["cpu0"]?["usr"]?.series?[1] ?? nil, 10.0 / 20 * 100)
        let still = try cpu([a, "cpu  110 0 0 500 40 0 0\ncpu0 110 0 0 500 40 0 0\n"])
        assertClose(still["cpu0"]?["iowait"]?.series?[1] ?? nil, 40.0 / 50 * 100)
        assertClose(still["cpu0"]?["usr"]?.series?[1] ?? nil, 10.0 / 50 * 100)
        assertClose(still["all"]?["iowait"]?.series?[1] ?? nil, 40.0 / 50 * 100, "one CPU: all is the total line, same rules")
    }

    /// A tickless CPU (no tick in the interval) is 100 % idle, as mpstat prints it.
    func testATicklessCPUIsIdle() throws {
        let a = "cpu  100 0 0 500 0 0 0\ncpu0 50 0 0 250 0 0 0\ncpu1 50 0 0 250 0 0 0\n"
        let b = "cpu  110 0 0 510 0 0 0\ncpu0 60 0 0 260 0 0 0\ncpu1 50 0 0 250 0 0 0\n"
        let data = try cpu([a, b])
        assertClose(data["cpu1"]?["idle"]?.series?[1] ?? nil, 100)
        assertClose(data["all"]?["usr"]?.series?[1] ?? nil, 50)
    }
}
