import Foundation
import XCTest
@testable import LockstatCore

/// Real workloads, checked against the kernel's own counters read independently.
final class RunFiguresTests: XCTestCase {
    /// A busy loop pinned to the last CPU shows ≈100 % usr on that CPU, and lockstat's figure
    /// agrees with the kernel's tick counters read around the run.
    func testPinnedBusyLoopShowsFullUserTimeOnThatCPU() throws {
        let cpus = ProcessInfo.processInfo.activeProcessorCount
        guard cpus >= 2 else { throw XCTSkip("SKIPPED: needs 2 CPUs to pin a busy loop away from lockstat; this machine has \(cpus)") }
        let cpu = cpus - 1
        let dir = temporaryDirectory()
        let before = try Kernel.cpuTicks(cpu)
        let r = try Lockstat.run([dir, "taskset", "-c", "\(cpu)", "python3", "-c",
                                  "import time\nend = time.monotonic() + 2.5\nwhile time.monotonic() < end: pass"])
        let after = try Kernel.cpuTicks(cpu)
        XCTAssertEqual(r.status, 0, r.err)
        let stat = try Lockstat.samples(dir)["stat"]!
        let time = stat["time"]!.series!.map { $0! }
        let usr = stat["cpu"]!["cpu\(cpu)"]!["usr"]!.series!
        // Intervals well inside the loop (python's start-up and exit excluded).
        let inside = time.indices.filter { time[$0] > 0.6 && time[$0] < 2.3 }.compactMap { usr[$0] }
        XCTAssertGreaterThan(inside.count, 10)
        let mean = inside.reduce(0, +) / Double(inside.count)
        XCTAssertGreaterThan(mean, 90, "usr on cpu\(cpu) during the busy loop")
        // Whole run: lockstat's per-interval usr weighted by ticks equals the kernel's share of user ticks.
        let kernelUser = (after[0] - before[0]) / zip(after.prefix(8), before.prefix(8)).map { $0 - $1 }.reduce(0, +) * 100
        let weighted = time.indices.dropFirst().compactMap { i in usr[i].map { $0 * (time[i] - time[i - 1]) } }.reduce(0, +) / (time.last! - time.first!)
        XCTAssertEqual(weighted, kernelUser, accuracy: 8, "lockstat \(weighted) % vs kernel \(kernelUser) %")
    }

    /// `dd oflag=direct` of 64 MiB: lockstat's wkB/s integrated over measured time is 64 MiB,
    /// and equals the kernel's own sectors-written delta for the disk.
    func testDirectWriteIntegratesToTheBytesWritten() throws {
        let dir = temporaryDirectory()
        let disk = try Kernel.disk(holding: dir)
        let before = try Kernel.sectorsWritten(disk)
        let r = try Lockstat.run([dir, "dd", "if=/dev/zero", "of=\(dir)/dd.bin", "bs=1M", "count=64", "oflag=direct", "conv=fsync"])
        let after = try Kernel.sectorsWritten(disk)
        XCTAssertEqual(r.status, 0, r.err)
        let ds = try Lockstat.samples(dir)["diskstats"]!
        let time = ds["time"]!.series!.map { $0! }
        let wkB = ds["devices"]![disk]!["wkB/s"]!.series!
        let written = time.indices.dropFirst().compactMap { i in wkB[i].map { $0 * (time[i] - time[i - 1]) } }.reduce(0, +)
        let kernel = (after - before) / 2
        XCTAssertGreaterThanOrEqual(written, 64 * 1024 - 0.5, "at least the 64 MiB dd wrote, in kB")
        XCTAssertLessThanOrEqual(written, kernel + 0.5, "no more than the kernel counted around the run")
        XCTAssertLessThan(written, 64 * 1024 * 1.25, "little else was written")
        XCTAssertTrue(ds["whole_disks"]!.strings!.contains(disk))
        let total = ds["total"]!["wkB/s"]!.series!
        let totalWritten = time.indices.dropFirst().compactMap { i in total[i].map { $0 * (time[i] - time[i - 1]) } }.reduce(0, +)
        XCTAssertGreaterThanOrEqual(totalWritten, written - 0.5, "the whole-disk total includes the disk")
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/diskstats_\(disk)_throughput.svg"))
    }

    /// Samples fall on absolute deadlines: tick k is taken close to k × interval after the start.
    func testSamplesAreTakenOnDeadlines() throws {
        let dir = temporaryDirectory()
        let r = try Lockstat.run(["--interval", "0.05", dir, "sleep", "1.5"])
        XCTAssertEqual(r.status, 0, r.err)
        let time = try Lockstat.samples(dir)["stat"]!["time"]!.series!.map { $0! }
        XCTAssertGreaterThanOrEqual(time.count, 30)
        let onTime = time.dropLast().enumerated().filter { abs($0.element - Double($0.offset) * 0.05) < 0.01 }.count
        XCTAssertGreaterThanOrEqual(onTime, (time.count - 1) * 9 / 10, "ticks on their deadlines: \(time)")
        XCTAssertEqual(time.last!, 1.5, accuracy: 0.3, "the last sample is taken when the program exits")
    }

    /// samples.pickle is what a Python user expects: the documented keys, aligned series, pandas-ready.
    func testPickleLoadsInPythonWithTheDocumentedKeys() throws {
        let dir = temporaryDirectory()
        XCTAssertEqual(try Lockstat.run([dir, "sleep", "0.5"]).status, 0)
        let script = """
        import json, pickle, sys
        d = pickle.load(open(sys.argv[1] + '/samples.pickle', 'rb'))
        assert set(d) == {'_lockstat_format', 'stat', 'diskstats'} and d['_lockstat_format'] == 2, d.keys()
        s = d['stat']
        n = len(s['time'])
        assert n >= 5 and s['time'] == sorted(s['time'])
        fields = ['usr', 'nice', 'sys', 'iowait', 'irq', 'soft', 'steal', 'guest', 'gnice', 'idle']
        for cpu, cols in s['cpu'].items():
            assert list(cols) == fields, (cpu, list(cols))
            assert all(len(v) == n for v in cols.values())
            assert cols['usr'][0] is None and isinstance(cols['idle'][1], float)
        assert 'all' in s['cpu'] and 'cpu0' in s['cpu']
        for k in ['ctxt/s', 'intr/s', 'fork/s', 'procs_running', 'procs_blocked']:
            assert len(s[k]) == n, k
        assert s['ctxt/s'][0] is None and s['procs_running'][0] >= 1
        ds = d['diskstats']
        cols = ['r/s', 'rkB/s', 'rrqm/s', '%rrqm', 'r_await', 'rareq-sz', 'w/s', 'wkB/s', 'wrqm/s', '%wrqm', 'w_await', 'wareq-sz',
                'd/s', 'dkB/s', 'drqm/s', '%drqm', 'd_await', 'dareq-sz', 'f/s', 'f_await', 'aqu-sz', '%util']
        for name, dev in ds['devices'].items():
            assert all(c in dev for c in cols), name
            assert all(len(dev[c]) == len(ds['time']) for c in cols)
        assert set(ds['whole_disks']) <= set(ds['devices'])
        j = json.load(open(sys.argv[1] + '/samples.json'))
        assert j['stat']['cpu']['all']['usr'][1:] == s['cpu']['all']['usr'][1:]
        import pandas
        df = pandas.DataFrame(d['stat']['cpu']['all'], index=d['stat']['time'])
        assert list(df.columns) == fields and len(df) == n
        print('ok')
        """
        let r = try shell(["python3", "-c", script, dir])
        XCTAssertEqual(r.out, "ok\n", "python3 failed (pandas is installed by .ci/run): \(r.err)")
    }
}
