import XCTest
@testable import LockstatCore
@testable import LockstatModules

final class LockStatTests: XCTestCase {
    func snapshot(_ fixture: String) throws -> LockStatSnapshot {
        LockStatSnapshot(String(decoding: try Fixtures.bytes(fixture), as: UTF8.self))
    }

    func testEveryFixtureParsesCompletely() throws {
        let files = try Fixtures.files(in: "lock_stat")
        XCTAssertEqual(files.count, 5)
        for f in files {
            let s = try snapshot(f)
            XCTAssertEqual(s.badLines, 0, f)
            XCTAssertFalse(s.classes.isEmpty, f)
        }
    }

    /// 0.3: a -W/-R pair sharing two call-site blocks; overflowed minima; a write-only class.
    func testVersion03PairBlocksAndOverflow() throws {
        let s = try snapshot("lock_stat/kdoc-2.6.26-v0.3.txt")
        XCTAssertEqual(s.version, "0.3")
        XCTAssertEqual(s.columns, LockStatSnapshot.columns02)
        XCTAssertEqual(s.order, ["&mm->mmap_sem", "dcache_lock"])
        let mm = s.classes["&mm->mmap_sem"]!
        XCTAssertEqual(mm.write!, [233, 538, nil, 22924.27, 607243.51, 1342, 45806, 1.71, 8595.89, 1180582.34])
        XCTAssertEqual(mm.read!, [205, 587, nil, 28403.36, 731975.00, 1940, 412426, 0.58, 187825.45, 6307502.88])
        XCTAssertEqual(mm.contentionPoints.count, 4)
        XCTAssertEqual(mm.contentionPoints[0], CallSite(count: 487, address: "[<ffffffff8053491f>]", symbol: "do_page_fault+0x466/0x928"))
        XCTAssertEqual(mm.contendingPoints.count, 4)
        XCTAssertEqual(mm.contendingPoints[0], CallSite(count: 270, address: "[<ffffffff80210a57>]", symbol: "sys_mmap+0x75/0xce"))
        let dcache = s.classes["dcache_lock"]!
        XCTAssertNil(dcache.read)
        XCTAssertEqual(dcache.write![1], 623)
        XCTAssertEqual(dcache.contentionPoints.map(\.count), [179, 113, 99, 104])
        XCTAssertEqual(dcache.contendingPoints.map(\.count), [192, 98, 72, 112])
    }

    /// 0.2: one call-site block only; the -R side of a pair with zero contentions.
    func testVersion02() throws {
        let s = try snapshot("lock_stat/kdoc-2.6.24-v0.2.txt")
        XCTAssertEqual(s.version, "0.2")
        let tree = s.classes["&inode->i_data.tree_lock"]!
        XCTAssertEqual(tree.write![4], 11547131054.85)
        XCTAssertEqual(tree.read![6], 231198, "acquisitions")
        XCTAssertEqual(tree.contentionPoints, [CallSite(count: 0, address: "[<ffffffff8027c08f>]", symbol: "add_to_page_cache+0x5f/0x190")])
        XCTAssertTrue(tree.contendingPoints.isEmpty)
        XCTAssertEqual(s.classes["dcache_lock"]!.contentionPoints.map(\.symbol).last, "shrink_dcache_parent+0x18/0x130")
    }

    /// 0.4: twelve columns by header name, the version line indented.
    func testVersion04ColumnsByName() throws {
        let s = try snapshot("lock_stat/kdoc-3.14-v0.4.txt")
        XCTAssertEqual(s.version, "0.4")
        XCTAssertEqual(s.columns, LockStatSnapshot.columns04)
        XCTAssertEqual(s.classes["&mm->mmap_sem"]!.write![5], 194.90, "waittime-avg")
        XCTAssertEqual(s.classes["&mm->mmap_sem"]!.read![11], 2.77, "holdtime-avg")
        XCTAssertEqual(s.classes["unix_table_lock"]!.write!, [110, 112, 0.21, 49.24, 163.91, 1.46, 21094, 66312, 0.12, 624.42, 31589.81, 0.48])
    }

    /// A real 6.1 kernel: hashed addresses, #N/N subclasses, -R only classes, module-free symbols.
    func testRealKernelCapture() throws {
        let s = try snapshot("lock_stat/vm-6.1-workload.txt")
        // Counted independently (grep/python over the file): 236 class lines, 58 of them -W/-R,
        // 218 distinct classes; 20 classes have call-site blocks (the fixtures' README says 18).
        XCTAssertEqual(s.classes.count, 218)
        // Five lines repeat a name already printed (four more &sb->s_type->i_lock_key#1, one more
        // &type->s_umount_key#2-R): distinct lockdep classes of the same name, combined.
        XCTAssertEqual(s.classes.values.reduce(0) { $0 + ($1.write == nil ? 0 : 1) + ($1.read == nil ? 0 : 1) } + s.combinedLines, 236)
        XCTAssertEqual(s.combinedLines, 5)
        let iLock = s.classes["&sb->s_type->i_lock_key#1"]!.write!
        XCTAssertEqual(iLock[1], 1, "contentions summed: 1 + 0 + 0 + 0 + 0")
        XCTAssertEqual(iLock[2], 3.39, "the minimum of the one that waited")
        let contended = s.classes.values.filter { !$0.contentionPoints.isEmpty }
        XCTAssertEqual(contended.count, 20)
        XCTAssertNotNil(s.classes["ptlock_ptr(page)#2"], "parentheses and # are part of the name")
        XCTAssertNotNil(s.classes["&futex_queues[i].lock"], "brackets and dots are part of the name")
        XCTAssertTrue(contended.allSatisfy { !$0.contendingPoints.isEmpty })
        let dir = s.classes["&type->i_mutex_dir_key#7/1"]!
        XCTAssertEqual(dir.write![1], 2)
        XCTAssertEqual(dir.contentionPoints[0].address, "[<0000000054f1e956>]")
        XCTAssertEqual(dir.contentionPoints[0].symbol, "do_unlinkat+0xc2/0x220")
        XCTAssertNil(s.classes["rcu_read_lock"]!.write, "read-only class")
        XCTAssertEqual(s.classes["rcu_read_lock"]!.read![7], 139221)
        XCTAssertEqual(s.classes["tasklist_lock"]!.write![1], 1)
        XCTAssertEqual(s.classes["tasklist_lock"]!.contentionPoints[0].symbol, "do_exit+0x3e6/0x881")
        XCTAssertEqual(s.order.first, "&rq->__lock")
    }

    func testNoHeaderMangledLinesAndTruncation() throws {
        let full = String(decoding: try Fixtures.bytes("lock_stat/kdoc-3.14-v0.4.txt"), as: UTF8.self)
        // Without version and header lines, 12 numbers identify 0.4.
        let noHeader = full.split(separator: "\n", omittingEmptySubsequences: false).dropFirst(4).joined(separator: "\n")
        let s = LockStatSnapshot(noHeader)
        XCTAssertEqual(s.columns, LockStatSnapshot.columns04)
        XCTAssertEqual(s.classes["unix_table_lock"]!.write![1], 112)
        // A mail-wrapped line and prose: counted, never glued onto a neighbour.
        let mangled = full.replacingOccurrences(of: "unix_table_lock:           110            112           0.21          49.24         163.91",
                                                with: "unix_table_lock:           110            112           0.21\n          49.24         163.91")
            .replacingOccurrences(of: "                         unix_table_lock             47", with: "... (elided) ...\n                         unix_table_lock             47")
        let m = LockStatSnapshot(mangled)
        XCTAssertNil(m.classes["unix_table_lock"])
        XCTAssertGreaterThanOrEqual(m.badLines, 3)
        XCTAssertEqual(m.classes["&mm->mmap_sem"]!.contendingPoints.count, 4, "the class before is untouched")
        // A call site naming another class is not credited to the current one.
        let foreign = full.replacingOccurrences(of: "                           &mm->mmap_sem             17", with: "                           &other_lock               17")
        XCTAssertEqual(LockStatSnapshot(foreign).classes["&mm->mmap_sem"]!.contentionPoints.count, 3)
        // Cut in the middle of a line.
        let cut = LockStatSnapshot(String(full.prefix(upTo: full.range(of: "unix_table_lock:")!.upperBound)) + "    11")
        XCTAssertEqual(cut.badLines, 1)
        XCTAssertNil(cut.classes["unix_table_lock"])
        XCTAssertEqual(cut.classes["&mm->mmap_sem"]!.read![1], 100)
    }

    func testOldKernelsHundredthRoundUp() {
        XCTAssertEqual(LockStatValue.parse("12.100")?.time, 13.00, "(rem+5)/10 printed .100 on 2.6.2x")
        XCTAssertNil(LockStatValue.parse("18446744073709")?.time)
        XCTAssertEqual(LockStatValue.parse("2922365")?.count, 2922365)
    }

    /// Series over snapshots: a class appearing mid-run (zero before), a class gaining -R mid-run
    /// (its key does not change), per-interval rates over measured time, the ranking.
    func testSeriesAcrossSnapshots() throws {
        let header = "lock_stat version 0.4\n" + String(repeating: "-", count: 221) + "\n" +
            "                              class name    con-bounces    contentions   waittime-min   waittime-max waittime-total   waittime-avg    acq-bounces   acquisitions   holdtime-min   holdtime-max holdtime-total   holdtime-avg\n" +
            String(repeating: "-", count: 221) + "\n\n"
        func line(_ name: String, _ contentions: Int, _ wait: Double, _ acq: Int) -> String {
            "\(name): 1 \(contentions) 0.50 9.00 \(String(format: "%.2f", wait)) 1.00 2 \(acq) 0.10 5.00 100.00 0.50\n"
        }
        let s0 = header + line("lockA", 10, 100, 1000)
        let s1 = header + line("lockA-W", 20, 300, 1500) + line("lockA-R", 5, 50, 700) + line("lockB", 1, 1000, 10)
        let s2 = header + line("lockA-W", 30, 500, 2000) + line("lockA-R", 5, 50, 900) + line("lockB", 2, 5000, 20)
        let log = try rawLog(snapshots: [s0, s1, s2].map { Array($0.utf8) }, times: [0, 0.5, 1.5])
        let parsed = try LockStatModule().parse(log, config: Config(modules: ["lock_stat"]))
        let d = parsed.data
        XCTAssertEqual(d["version"], .string("0.4"))
        let a = d["classes"]!["lockA"]!
        XCTAssertEqual(a["write"]!["contentions"]!.series!, [10, 20, 30])
        XCTAssertEqual(a["read"]!["contentions"]!.series!, [0, 5, 5], "the read side before it existed is 0")
        XCTAssertEqual(d["classes"]!["lockB"]!["write"]!["waittime-total"]!.series!, [0, 1000, 5000])
        XCTAssertNil(d["classes"]!["lockA-W"])
        let top = d["top"]!.listItems!
        XCTAssertEqual(top.map { $0["class"]!.string! }, ["lockB", "lockA"], "by wait over the run: 5000 vs 550")
        XCTAssertEqual(top[1]["waittime-total"], .float(550), "cleared at presampling: the last sample's total")
        var kept = Config(modules: ["lock_stat"])
        kept.moduleSettings["lock_stat"] = ["clear": ["no"]]
        let notCleared = try LockStatModule().parse(log, config: kept).data["top"]!.listItems!
        XCTAssertEqual(notCleared[1]["waittime-total"], .float(450), "not cleared: gained since the first sample")
        let rates = top[1]["waittime us/s"]!.series!
        XCTAssertNil(rates[0])
        XCTAssertEqual(rates[1]!, (350 - 100) / 0.5, accuracy: 1e-9)
        XCTAssertEqual(rates[2]!, (550 - 350) / 1.0, accuracy: 1e-9)
        XCTAssertEqual(top[1]["acquisitions/s"]!.series![1]!, (2200 - 1000) / 0.5, accuracy: 1e-9)
    }

    /// Stored as zstd frames against the previous snapshot: far below the raw size, every whole
    /// sample recovered after a torn tail.
    func testDeltaStorageRoundTripAndSize() throws {
        let dir = temporaryDirectory()
        let source = dir + "/lock_stat"
        let workload = String(decoding: try Fixtures.bytes("lock_stat/vm-6.1-workload.txt"), as: UTF8.self)
        let writer = try RawLogWriter(path: dir + "/lock_stat.log")
        writer.append(kind: .header, tick: 0, time: 0, text: "module lock_stat\ninterval_ns 1000000000\nstart_ns 0\n")
        try workload.write(toFile: source, atomically: false, encoding: .utf8)
        let recorder = try DeltaSnapshotRecorder(path: source, log: writer)
        var texts = [String]()
        for i in 0..<130 {
            // Counters of a few classes advance every second, as on a busy machine.
            let text = workload.replacingOccurrences(of: "91720", with: String(91720 + i * 37))
                .replacingOccurrences(of: "24864", with: String(24864 + i * 11))
            try text.write(toFile: source, atomically: false, encoding: .utf8)
            XCTAssertTrue(recorder.sample(tick: UInt64(i), time: UInt64(i) * 1_000_000_000))
            texts.append(text)
        }
        XCTAssertLessThan(Double(recorder.storedBytes) / Double(recorder.rawBytes), 0.10)
        var read = [String]()
        try RawLog.read(path: dir + "/lock_stat.log").snapshots().read { _, bytes in read.append(String(decoding: bytes, as: UTF8.self)) }
        XCTAssertEqual(read, texts)
        // Torn tail: all but the last record still decode.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: dir + "/lock_stat.log"))
        let torn = try RawLog(path: "torn", bytes: Array(bytes.dropLast(7)))
        var count = 0
        try torn.snapshots().read { _, _ in count += 1 }
        XCTAssertEqual(count, 129)
    }
}
