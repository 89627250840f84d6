import XCTest
@testable import LockstatCore
@testable import LockstatModules

final class DiskstatsTests: XCTestCase {
    func parse(_ texts: [String], times: [Double], sysBlock: String? = nil) throws -> (PyValue, [String]) {
        let log = try rawLog(snapshots: texts.map { Array($0.utf8) }, times: times,
                             side: sysBlock.map { [(DiskstatsModule.sysBlockStream, $0)] } ?? [])
        let parsed = try DiskstatsModule().parse(log, config: Config(modules: ["diskstats"]))
        return (parsed.data, parsed.warnings)
    }

    func fixture(_ name: String) throws -> String { String(decoding: try Fixtures.bytes(name), as: UTF8.self) }

    func testEveryFixtureParsesCompletely() throws {
        let files = try Fixtures.files(in: "diskstats")
        XCTAssertEqual(files.count, 3)
        for f in files {
            let (data, warnings) = try parse([try fixture(f)], times: [0])
            XCTAssertEqual(data["bad_lines"], .int(0), f)
            XCTAssertTrue(warnings.isEmpty, f)
            XCTAssertFalse(data["devices"]!.keys.isEmpty, f)
        }
    }

    /// The 5.5+ layout (20 fields) captured on this kind of machine, then the same line advanced
    /// by known amounts over a measured 0.5 s. Every iostat -x column, worked out by hand.
    func testEveryIostatColumnOnTwentyFieldLayout() throws {
        let before = try fixture("diskstats/vm-6.18-20field.txt")
        let vda = " 254       0 vda 46081 12345 4602722 27967 37810 117461 7347912 68164 0 22496 104451 10510 5 1678328 3935 5602 4383"
        XCTAssertTrue(before.contains(vda))
        let after = before.replacingOccurrences(of: vda,
            with: " 254       0 vda 46181 12365 4610722 28217 37860 117471 7352008 68564 2 22796 105351 10514 6 1680376 3943 5607 4393")
        let (data, _) = try parse([before, after], times: [1.0, 1.5])
        let d = data["devices"]!["vda"]!
        func v(_ c: String) -> Double? { d[c]!.series![1] }
        XCTAssertNil(d["r/s"]!.series![0])
        assertClose(v("r/s"), 100 / 0.5)
        assertClose(v("rkB/s"), 8000 / 0.5 / 2)
        assertClose(v("rrqm/s"), 20 / 0.5)
        assertClose(v("%rrqm"), 20.0 / 120 * 100)
        assertClose(v("r_await"), 250.0 / 100)
        assertClose(v("rareq-sz"), 8000.0 / 100 / 2)
        assertClose(v("w/s"), 50 / 0.5)
        assertClose(v("wkB/s"), 4096 / 0.5 / 2)
        assertClose(v("wrqm/s"), 10 / 0.5)
        assertClose(v("%wrqm"), 10.0 / 60 * 100)
        assertClose(v("w_await"), 400.0 / 50)
        assertClose(v("wareq-sz"), 4096.0 / 50 / 2)
        assertClose(v("d/s"), 4 / 0.5)
        assertClose(v("dkB/s"), 2048 / 0.5 / 2)
        assertClose(v("drqm/s"), 1 / 0.5)
        assertClose(v("%drqm"), 1.0 / 5 * 100)
        assertClose(v("d_await"), 8.0 / 4)
        assertClose(v("dareq-sz"), 2048.0 / 4 / 2)
        assertClose(v("f/s"), 5 / 0.5)
        assertClose(v("f_await"), 10.0 / 5)
        assertClose(v("aqu-sz"), 900.0 / 500)
        assertClose(v("%util"), 300.0 / 500 * 100)
        assertClose(d["in_flight"]!.series![1], 2)
        // Idle loop devices: zero rates, zero awaits (no I/O), not None.
        assertClose(data["devices"]!["loop0"]!["r_await"]!.series![1], 0)
        XCTAssertEqual(data["whole_disks"]?.strings?.count, 10)
        assertClose(data["total"]!["wkB/s"]!.series![1], 4096)
    }

    /// 2.6.0–2.6.24: a whole disk with 11 counters and a partition with 4 in one file.
    func testOldPartitionLayout() throws {
        let before = try fixture("diskstats/kdoc-2.6-4field-partition.txt")
        let after = before.replacingOccurrences(of: "hda1 35486 38030 38030 38030", with: "hda1 35496 38110 38035 38070")
        let (data, _) = try parse([before, after], times: [0, 1])
        let p = data["devices"]!["hda1"]!
        assertClose(p["r/s"]!.series![1], 10)
        assertClose(p["rkB/s"]!.series![1], 40)
        assertClose(p["rareq-sz"]!.series![1], 80.0 / 10 / 2)
        assertClose(p["w/s"]!.series![1], 5)
        assertClose(p["wkB/s"]!.series![1], 20)
        for c in ["rrqm/s", "%rrqm", "r_await", "d/s", "f/s", "aqu-sz", "%util"] {
            XCTAssertNil(p[c]!.series![1], "\(c) is not in the 4-counter layout")
        }
        assertClose(data["devices"]!["hda"]!["%util"]!.series![1], 0)
        XCTAssertEqual(data["whole_disks"]?.strings, ["hda"])
    }

    func testEighteenFieldsHaveDiscardsButNoFlushes() throws {
        let before = try fixture("diskstats/kdoc-4.18-18field.txt")
        let after = before.replacingOccurrences(of: "23705160 0 0 0 0", with: "23705160 3 0 24 6")
        let (data, _) = try parse([before, after], times: [0, 2])
        let h = data["devices"]!["hda"]!
        assertClose(h["d/s"]!.series![1], 1.5)
        assertClose(h["dkB/s"]!.series![1], 24.0 / 2 / 2)
        assertClose(h["d_await"]!.series![1], 2)
        XCTAssertNil(h["f/s"]!.series![1])
    }

    func testDeviceAppearingMidRunAndBadLines() throws {
        let a = "   8       0 sda 1 0 8 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n"
        let b = a + " 259       0 nvme0n1 10 0 80 5 0 0 0 0 0 5 5 0 0 0 0 0 0\n 259  1 nvme0n1p1 10 0 80 5 0 0 0 0 0 5 5 0 0 0 0 0 0\n"
        let c = b.replacingOccurrences(of: "nvme0n1 10 0 80", with: "nvme0n1 30 0 240") + "garbage line here\n 8 1 sda1 1 2 3\n   8  2 sdb 1 2"
        let (data, warnings) = try parse([a, b, c], times: [0, 1, 2])
        let n = data["devices"]!["nvme0n1"]!["r/s"]!.series!
        // Appearing between the first two samples, it counts from zero, as iostat does: 10 reads
        // in its first second. (It was None there before the sysstat-exact rules.)
        XCTAssertNil(n[0]); assertClose(n[1], 10); assertClose(n[2], 20)
        XCTAssertEqual(data["bad_lines"], .int(3))
        XCTAssertEqual(warnings.count, 1)
        XCTAssertEqual(data["whole_disks"]?.strings, ["sda", "nvme0n1"], "nvme0n1p1 is a partition of nvme0n1")
    }

    func testSysBlockListingDecidesWholeDisks() throws {
        let text = "   8       0 sda 1 0 8 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n   8  1 sda1 1 0 8 1 0 0 0 0 0 1 1 0 0 0 0 0 0\n 104 0 cciss/c0d0 1 0 8 1 0 0 0 0 0 1 1\n"
        let (data, _) = try parse([text], times: [0], sysBlock: "cciss!c0d0\nsda")
        XCTAssertEqual(data["whole_disks"]?.strings, ["sda", "cciss/c0d0"])
    }

    func testWholeDiskGuess() {
        let names = ["sda", "sda1", "sda12", "nvme0n1", "nvme0n1p1", "mmcblk0", "mmcblk0p2", "loop0", "md127", "dm-0", "zram0"]
        XCTAssertEqual(WholeDisks.guess(names: names, partitionLayout: []), ["sda", "nvme0n1", "mmcblk0", "loop0", "md127", "dm-0", "zram0"])
    }

    func testThisMachinesDiskstats() throws {
        guard case .success(let bytes) = FileReader.readAll("/proc/diskstats") else { return XCTFail("no /proc/diskstats") }
        let (data, _) = try parse([String(decoding: bytes, as: UTF8.self)], times: [0])
        XCTAssertEqual(data["bad_lines"], .int(0))
        let sysBlock = try FileManager.default.contentsOfDirectory(atPath: "/sys/block")
        for disk in sysBlock { XCTAssertNotNil(data["devices"]![disk], disk) }
    }

    // sysstat's rules in the corner cases (iostat.c, rd_stats.c of sysstat master c1eb661a),
    // each with two snapshots 1 s apart and the value iostat -x prints for them.

    /// iostat.c write_stats: every I/O count lower and every non-zero sector count lower means
    /// the disk was removed and added again: the new counters count from zero.
    func testADiskRemovedAndAddedAgainCountsFromZero() throws {
        let before = "   8       0 sda 1000 0 8000 100 500 0 4000 50 0 120 150 0 0 0 0 0 0\n"
        let after = "   8       0 sda 10 0 80 1 5 0 40 1 0 2 2 0 0 0 0 0 0\n"
        let (data, _) = try parse([before, after], times: [0, 1])
        let sda = data["devices"]!["sda"]!
        assertClose(sda["r/s"]!.series![1], 10)
        assertClose(sda["rkB/s"]!.series![1], 40)
        assertClose(sda["w/s"]!.series![1], 5)
        assertClose(sda["%util"]!.series![1], 2.0 / 1000 * 100)
    }

    /// One counter lower is not a restart: that column counts 0 (iostat's "< ? 0.0 : S_VALUE").
    func testOneCounterGoingBackwardsIsNotARestart() throws {
        let before = "   8       0 sda 1000 0 8000 100 500 0 4000 50 0 120 150 0 0 0 0 0 0\n"
        let after = "   8       0 sda 1010 0 7000 101 505 0 4040 51 0 122 152 0 0 0 0 0 0\n"
        let (data, _) = try parse([before, after], times: [0, 1])
        let sda = data["devices"]!["sda"]!
        assertClose(sda["r/s"]!.series![1], 10)
        assertClose(sda["rkB/s"]!.series![1], 0)
        assertClose(sda["wkB/s"]!.series![1], 20)
    }

    /// iostat.c read_diskstats_stat_work reads 11, 15 or 17 counters by position and ignores
    /// what a newer kernel adds after them: 14 or 20 counters are not malformed.
    func testLinesWithMoreCountersAreReadByPosition() throws {
        let a = "   8 0 sda 100 0 800 10 0 0 0 0 0 10 10 7 7 7\n 8 16 sdb 1 0 8 1 0 0 0 0 0 1 1 0 0 0 0 0 0 9 9 9\n"
        let b = "   8 0 sda 150 0 1200 20 0 0 0 0 0 20 20 7 7 7\n 8 16 sdb 3 0 24 3 0 0 0 0 0 3 3 0 0 0 0 4 8 9 9 9\n"
        let (data, _) = try parse([a, b], times: [0, 1])
        XCTAssertEqual(data["bad_lines"], .int(0))
        let sda = data["devices"]!["sda"]!, sdb = data["devices"]!["sdb"]!
        assertClose(sda["r/s"]!.series![1], 50)
        assertClose(sda["r_await"]!.series![1], 10.0 / 50)
        XCTAssertNil(sda["d/s"]!.series![1], "14 counters: no discard columns")
        assertClose(sdb["r/s"]!.series![1], 2)
        assertClose(sdb["f/s"]!.series![1], 4, "20 counters: flushes read at positions 16 and 17")
        assertClose(sdb["f_await"]!.series![1], 2)
    }

    /// rd_stats.c compute_ext_disk_stats does not cap %util: 1,500 ms of busy time counted in a
    /// second measured shows 150.
    func testUtilisationIsNotCapped() throws {
        let a = "   8 0 sda 100 0 800 10 0 0 0 0 0 1000 10 0 0 0 0 0 0\n"
        let b = "   8 0 sda 150 0 1200 20 0 0 0 0 0 2500 20 0 0 0 0 0 0\n"
        let (data, _) = try parse([a, b], times: [0, 1])
        assertClose(data["devices"]!["sda"]!["%util"]!.series![1], 150)
    }
}
