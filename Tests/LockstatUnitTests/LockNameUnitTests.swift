import CLockstat
import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Lock names read back from a bpf-mode raw log made here: the BPF programs' slab and runqueue
/// names, what a waiting task said of a lock (winning over its cache, for every waiter of that
/// address), static locks by data symbol (+offset, never a section marker), else the address.
final class LockNameUnitTests: XCTestCase {
    static let kallsyms = """
        ffffffff81000000 T _stext
        ffffffff81001000 T down_write
        ffffffff82400000 D __start_rodata
        ffffffff82e00000 D jiffies_lock
        ffffffff82e00040 d tasklist_lock
        ffffffff82e00080 b some_table
        ffffffff82f00000 B __bss_stop
        ffffffff83000000 b after_markers

        """
    static let slab: UInt64 = 0xffff_8881_3701_7af0, runqueue: UInt64 = 0xffff_8886_27c2_fb80
    static let mm: UInt64 = 0xffff_8881_2eea_8d38, loose: UInt64 = 0xffff_8881_0000_1000
    static let staticInside: UInt64 = 0xffff_ffff_82e0_0048, inMarkers: UInt64 = 0xffff_ffff_8240_1000

    static func name(_ lock: UInt64, _ source: ls_bpf_lock_name_source, _ cache: String = "") -> ls_bpf_lock_name {
        var e = ls_bpf_lock_name()
        e.lock = lock
        e.source = source.rawValue
        withUnsafeMutableBytes(of: &e.name) { b in
            for (i, c) in cache.utf8.prefix(Int(LS_BPF_CACHE_NAME) - 1).enumerated() { b[i] = c }
        }
        return e
    }

    /// A raw log of one drain: waits on each lock, then the names the drain found (and a record
    /// that is not whole entries, when `damaged`).
    func log(damaged: Bool = false) throws -> RawLog {
        let path = temporaryDirectory() + "/contention.log"
        let writer = try RawLogWriter(path: path)
        let start: UInt64 = 1_000_000_000
        writer.append(
            kind: .header, tick: 0, time: start, text: "module contention\ninterval_ns 500000000\nstart_ns \(start)\n")
        writer.append(kind: .side, stream: ContentionModule.layoutStream, tick: 0, time: 0, text: "mode bpf\ncpus 2\n")
        Array(Self.kallsyms.utf8).withUnsafeBytes {
            writer.append(kind: .snapshot, stream: ContentionModule.kallsymsStream, tick: 0, time: 0, payload: $0)
        }
        func wait(_ lock: UInt64, tid: UInt32, flags: UInt32, kind: UInt32 = 0, count: UInt64) -> [UInt8] {
            var e = ls_bpf_entry()
            e.key.lock = lock
            e.key.stack_id = -1
            e.key.tid = tid
            e.value.count = count
            e.value.total_ns = count * 1000
            e.value.flags = flags
            e.value.kind = kind
            return withUnsafeBytes(of: e) { Array($0) }
        }
        let waits =
            wait(Self.slab, tid: 1, flags: 4, count: 10) + wait(Self.runqueue, tid: 2, flags: 1, count: 9)
            // The mm's own task names its mmap_lock; another task (a /proc/PID/maps reader) does not.
            + wait(Self.mm, tid: 3, flags: 4, kind: UInt32(LS_LOCK_KIND_MMAP), count: 8)
            + wait(Self.mm, tid: 4, flags: 2, count: 7)
            + wait(Self.staticInside, tid: 5, flags: 1, count: 6) + wait(Self.inMarkers, tid: 6, flags: 1, count: 5)
            + wait(Self.loose, tid: 7, flags: 1, count: 4)
        waits.withUnsafeBytes {
            writer.append(
                kind: .snapshot, stream: BPFContentionRecorder.waitsStream, tick: 1, time: start + 500_000_000,
                payload: $0)
        }
        let names = [
            Self.name(Self.slab, LS_LOCK_NAME_SLAB, "ext4_inode_cache"), Self.name(Self.runqueue, LS_LOCK_NAME_RUNQUEUE),
            Self.name(Self.mm, LS_LOCK_NAME_SLAB, "mm_struct"),
            // A source this lockstat does not know, and a slab with no name: neither names its lock.
            Self.name(Self.loose, ls_bpf_lock_name_source(rawValue: 9)), Self.name(Self.loose, LS_LOCK_NAME_SLAB),
        ]
        names.withUnsafeBytes {
            writer.append(
                kind: .snapshot, stream: BPFContentionRecorder.lockNamesStream, tick: 1, time: start + 500_000_000,
                payload: $0)
        }
        if damaged {
            [UInt8](repeating: 1, count: 7).withUnsafeBytes {
                writer.append(
                    kind: .snapshot, stream: BPFContentionRecorder.lockNamesStream, tick: 1, time: start + 500_000_000,
                    payload: $0)
            }
        }
        let counters = [UInt64](repeating: 0, count: Int(LS_BPF_COUNTERS.rawValue) + 2)
        counters.withUnsafeBytes {
            writer.append(
                kind: .snapshot, stream: BPFContentionRecorder.countersStream, tick: 1, time: start, payload: $0)
        }
        return try RawLog.read(path: path)
    }

    func testTheLocksTableNamesEachLockFromTheLogAlone() throws {
        let data = try ContentionData(log: try log(), top: 10)
        let names = Dictionary(uniqueKeysWithValues: data.model.locks.map { ($0.key, $0.contended) })
        let hex = { (a: UInt64) in String(a, radix: 16) }
        XCTAssertEqual(names["&ext4_inode_cache (\(hex(Self.slab)))"], 10, "\(names)")
        XCTAssertEqual(names["rq_lock (\(hex(Self.runqueue)))"], 9, "\(names)")
        // Both waits on the mm's lock under one name: the owner task's, over the slab cache's.
        XCTAssertEqual(names["&mm->mmap_lock (\(hex(Self.mm)))"], 15, "\(names)")
        XCTAssertEqual(names["tasklist_lock+0x8 (\(hex(Self.staticInside)))"], 6, "\(names)")
        XCTAssertEqual(names[hex(Self.inMarkers)], 5, "inside __start_rodata..: no name: \(names)")
        XCTAssertEqual(names[hex(Self.loose)], 4, "\(names)")
        XCTAssertEqual(data.undecodable, 0)
    }

    func testANamesRecordThatIsNotWholeEntriesCountsAsUndecodable() throws {
        let data = try ContentionData(log: try log(damaged: true), top: 10)
        XCTAssertEqual(data.undecodable, 1)
        XCTAssertTrue(data.model.locks.contains { $0.key.hasPrefix("&ext4_inode_cache (") }, "the whole record still names")
    }

    /// serve's label and the profile's: the name alone, the address only where addresses are allowed.
    func testLabelsAreNamesAndAddressesOnlyWhenAllowed() throws {
        var analysis = ContentionAnalysis(groups: [], symbols: KernelSymbols(Self.kallsyms))
        [Self.name(Self.slab, LS_LOCK_NAME_SLAB, "files_cache")].withUnsafeBufferPointer { analysis.lockNames.add($0) }
        XCTAssertEqual(
            ContentionTotals.lockLabel(Self.slab, kind: 0, analysis: analysis, addresses: false), "&files_cache")
        XCTAssertEqual(ContentionTotals.lockLabel(Self.loose, kind: 0, analysis: analysis, addresses: false), "")
        XCTAssertEqual(
            ContentionTotals.lockLabel(Self.loose, kind: 0, analysis: analysis, addresses: true), "0xffff888100001000")
        XCTAssertEqual(
            ContentionTotals.lockLabel(Self.slab, kind: 0, analysis: analysis, addresses: true),
            "&files_cache (ffff888137017af0)", "as the report names it: a cache's locks stay apart")
        XCTAssertEqual(
            ContentionModule.profileLabels(caller: "c", flags: 1, lock: "&files_cache").map { "\($0.key)=\($0.value)" },
            ["caller=c", "type=spinlock", "lock=&files_cache"])
        XCTAssertEqual(ContentionModule.profileLabels(caller: "c", flags: 1, lock: "").count, 2)
    }

    /// Without data symbols beyond the section markers (no CONFIG_KALLSYMS_ALL) nothing is static.
    func testSectionMarkersNameNothing() {
        let symbols = KernelSymbols(Self.kallsyms)
        XCTAssertEqual(symbols.object(0xffff_ffff_82e0_0000), "jiffies_lock")
        XCTAssertEqual(symbols.object(0xffff_ffff_82e0_0088), "some_table+0x8")
        XCTAssertNil(symbols.object(0xffff_ffff_82f0_0008), "after __bss_stop")
        XCTAssertNil(symbols.object(0xffff_ffff_8300_0010), "after the last symbol, no end is known")
        XCTAssertNil(symbols.object(0xffff_ffff_8100_1010), "text is not a lock")
        XCTAssertEqual(symbols.dataSymbolCount, 4)
    }

    /// doctor, per naming method, on a root without BTF whose kallsyms has data symbols
    /// (CONFIG_KALLSYMS_ALL) and contig_page_data: the BTF ones say why not, the symbol ones yes.
    func testDoctorSaysPerMethodWhatThisKernelSupports() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        let data = (0..<1200).map { "ffffffff8300\(String(format: "%04x", $0 * 8)) d lock_\($0)" }
        try ([Self.kallsyms, "ffffffff82e10000 D contig_page_data"] + data).joined(separator: "\n")
            .write(toFile: root + "/proc/kallsyms", atomically: true, encoding: .utf8)
        let checks = Dictionary(uniqueKeysWithValues: LockNames.checks(SystemRoot(root)).map { ($0.name, $0) })
        XCTAssertEqual(
            checks.keys.sorted(),
            ["names: mmap_lock, siglock", "names: rq_lock", "names: slab caches", "names: static locks",
             "names: zone_lock"])
        for name in ["names: mmap_lock, siglock", "names: rq_lock", "names: slab caches"] {
            XCTAssertEqual(checks[name]?.ok, false, name)
            XCTAssertTrue(checks[name]?.detail.hasPrefix("no kernel BTF") == true, "\(name): \(checks[name]!.detail)")
            XCTAssertNotNil(checks[name]?.fix)
        }
        XCTAssertEqual(checks["names: static locks"]?.ok, true, checks["names: static locks"]!.detail)
        XCTAssertTrue(checks["names: static locks"]!.detail.contains("1205 data symbols"), checks["names: static locks"]!.detail)
        XCTAssertEqual(checks["names: zone_lock"]?.ok, true)
        try Self.kallsyms.write(toFile: root + "/proc/kallsyms", atomically: true, encoding: .utf8)
        let without = Dictionary(uniqueKeysWithValues: LockNames.checks(SystemRoot(root)).map { ($0.name, $0) })
        XCTAssertEqual(without["names: static locks"]?.ok, false)
        XCTAssertEqual(without["names: static locks"]?.fix, "a kernel built with CONFIG_KALLSYMS_ALL=y")
        XCTAssertEqual(without["names: zone_lock"]?.ok, false)
    }

    /// serve and top forget idle locks' names (bounded memory however long they run), keeping the
    /// runqueues' (reported once per CPU).
    func testPruneKeepsLiveLocksAndRunqueues() {
        var names = LockNames()
        let many = (0..<200).map { Self.name(0xffff_8881_0000_0000 + UInt64($0) * 64, LS_LOCK_NAME_SLAB, "dentry") }
        (many + [Self.name(Self.runqueue, LS_LOCK_NAME_RUNQUEUE)]).withUnsafeBufferPointer { names.add($0) }
        names.note(Self.mm, kind: UInt32(LS_LOCK_KIND_MMAP))
        names.prune(live: [many[0].lock, Self.mm])
        XCTAssertEqual(names.byAddress.count, 2)
        XCTAssertEqual(names.name(many[0].lock), "&dentry")
        XCTAssertNil(names.name(many[1].lock))
        XCTAssertEqual(names.name(Self.runqueue), "rq_lock")
        XCTAssertEqual(names.name(Self.mm), "&mm->mmap_lock")
    }
}
