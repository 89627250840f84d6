import CLockstat
import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Cgroups' pure parts: the v2 mount found in mountinfo, contention.cgroup's matching, a bpf-mode
/// raw log keyed by cgroup (and an older one without) read back into the tables, serve's label,
/// and `lockstat top`'s `g` screen.
final class CgroupUnitTests: XCTestCase {
    static let kallsyms = """
        ffffffff81007000 T rwsem_down_write_slowpath
        ffffffff81008000 T down_write
        ffffffff81009000 T filename_create
        ffffffff8100a000 T do_mkdirat

        """

    func testTheV2MountOfAHybridHostAndNoneOnV1Only() {
        let hybrid = """
            31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
            32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
            40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
            41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
            """
        XCTAssertEqual(CgroupHierarchy.mountPoint(hybrid), "/sys/fs/cgroup/unified")
        // Optional fields before the separator; a mount point with a space (\040).
        let unified = "29 23 0:26 / /sys/fs/my\\040cgroup rw,nosuid shared:4 master:1 - cgroup2 cgroup2 rw,nsdelegate\n"
        XCTAssertEqual(CgroupHierarchy.mountPoint(unified), "/sys/fs/my cgroup")
        XCTAssertNil(CgroupHierarchy.mountPoint(hybrid.replacingOccurrences(of: "cgroup2", with: "cgroup")))
        XCTAssertNil(CgroupHierarchy.mountPoint("garbage\n\n - cgroup2\n"), "a line without its fields is no mount")
    }

    func testTheFilterKeepsACgroupAndItsDescendantsOnly() {
        let filter = CgroupFilter(paths: ["/a"])
        XCTAssertTrue(filter.keeps(id: 5, path: "/a"))
        XCTAssertTrue(filter.keeps(id: 6, path: "/a/b/c"), "a descendant")
        XCTAssertFalse(filter.keeps(id: 7, path: "/ab"), "a sibling whose name starts alike")
        XCTAssertFalse(filter.keeps(id: 8, path: "/"))
        XCTAssertFalse(filter.keeps(id: 9, path: nil), "not named: only its id matches")
        XCTAssertTrue(CgroupFilter(paths: ["9"]).keeps(id: 9, path: nil))
        XCTAssertTrue(CgroupFilter(paths: ["/"]).keeps(id: 3, path: "/x"), "the root keeps every named cgroup")
        XCTAssertTrue(CgroupFilter(paths: ["/a/"]).keeps(id: 6, path: "/a/b"))
        XCTAssertTrue(CgroupFilter().keeps(id: 1, path: nil), "no filter keeps everything")
    }

    /// A bpf-mode raw log: two drains of waits by tasks in cgroups 100 (/a), 200 (/b) and 300
    /// (gone before it was named); `legacy`: as a lockstat before cgroups wrote them (16-byte key).
    func log(legacy: Bool) throws -> RawLog {
        let path = temporaryDirectory() + "/contention-\(legacy).log"
        let writer = try RawLogWriter(path: path)
        let start: UInt64 = 1_000_000_000
        writer.append(
            kind: .header, tick: 0, time: start, text: "module contention\ninterval_ns 500000000\nstart_ns \(start)\n")
        writer.append(kind: .side, stream: ContentionModule.layoutStream, tick: 0, time: 0, text: "mode bpf\ncpus 2\n")
        Array(Self.kallsyms.utf8).withUnsafeBytes {
            writer.append(kind: .snapshot, stream: ContentionModule.kallsymsStream, tick: 0, time: 0, payload: $0)
        }
        var stack = [UInt8](repeating: 0, count: 8 + 4 * 8)
        stack.withUnsafeMutableBytes { b in
            b.storeBytes(of: Int32(1), as: Int32.self)
            b.storeBytes(of: UInt32(4), toByteOffset: 4, as: UInt32.self)
            for (i, f) in [UInt64(0xffff_ffff_8100_7010), 0xffff_ffff_8100_8010, 0xffff_ffff_8100_9010, 0xffff_ffff_8100_a010]
                .enumerated()
            {
                b.storeBytes(of: f, toByteOffset: 8 + i * 8, as: UInt64.self)
            }
        }
        stack.withUnsafeBytes {
            writer.append(kind: .side, stream: BPFContentionRecorder.stacksStream, tick: 0, time: 0, payload: $0)
        }
        for (id, path) in [(UInt64(100), "/a"), (200, "/b"), (300, "")] {
            let record = withUnsafeBytes(of: id) { Array($0) } + Array(path.utf8)
            record.withUnsafeBytes {
                writer.append(kind: .side, stream: CgroupRecords.stream, tick: 1, time: 0, payload: $0)
            }
        }
        func entry(tid: UInt32, cgroup: UInt64, count: UInt64) -> [UInt8] {
            var e = ls_bpf_entry()
            e.key = ls_bpf_key(lock: 0xffff_8880_0000_1000, stack_id: 1, tid: tid, cgroup: cgroup)
            e.value.count = count
            e.value.total_ns = count * 1000
            e.value.max_ns = 1000
            e.value.min_ns = 1000
            e.value.flags = 4
            let bytes = withUnsafeBytes(of: e) { Array($0) }
            // The key as it was: lock, stack id, tid; no cgroup.
            return legacy ? Array(bytes[0..<16]) + Array(bytes[24...]) : bytes
        }
        for tick in [1, 2] {
            let n = UInt64(tick)
            let drain = entry(tid: 7, cgroup: 100, count: 10 * n) + entry(tid: 8, cgroup: 200, count: 3 * n)
                + entry(tid: 9, cgroup: 300, count: n)
            drain.withUnsafeBytes {
                writer.append(
                    kind: .snapshot,
                    stream: legacy ? BPFContentionRecorder.legacyWaitsStream : BPFContentionRecorder.waitsStream,
                    tick: n, time: start + n * 500_000_000, payload: $0)
            }
        }
        return try RawLog.read(path: path)
    }

    func testWaitsByCgroupPathAndTheFilterAtReading() throws {
        let data = try ContentionData(log: try log(legacy: false), top: 10)
        let rows = try XCTUnwrap(data.model.cgroups)
        XCTAssertEqual(rows.map(\.key), ["/a", "/b", "300"], "by wait; a cgroup never named by its id")
        XCTAssertEqual(rows.map(\.contended), [20, 6, 2])
        XCTAssertEqual(data.analysis.contentions.reduce(0) { $0 + $1.count }, 28)

        let kept = try ContentionData(log: try log(legacy: false), top: 10, cgroups: CgroupFilter(paths: ["/b"]))
        XCTAssertEqual(try XCTUnwrap(kept.model.cgroups).map(\.key), ["/b"])
        XCTAssertEqual(kept.model.callers.map(\.contended), [6], "every table keeps only /b's waits")

        // The table of report --by cgroup and the page, and the entry read back.
        let table = try XCTUnwrap(data.model.results.tables.first { $0.grouping == "cgroup" })
        XCTAssertEqual(table.rows.map { $0.labels[1] }, ["/a", "/b", "300"])
        let decoded = try ContentionModel(entry: data.model.entry)
        XCTAssertEqual(decoded.cgroups?.map(\.key), ["/a", "/b", "300"])
    }

    func testALogWrittenBeforeCgroupsReadsAsBeforeWithoutTheirTable() throws {
        let data = try ContentionData(log: try log(legacy: true), top: 10)
        XCTAssertNil(data.model.cgroups, "no cgroup key in samples")
        XCTAssertNil(data.model.entry[ContentionModel.Key.cgroups])
        XCTAssertEqual(data.model.callers.map(\.contended), [28], "every wait read with the older key")
        XCTAssertEqual(data.undecodable, 0)
        XCTAssertFalse(data.model.results.tables.contains { $0.grouping == "cgroup" })
        // contention.cgroup cannot drop what carries no cgroup.
        let filtered = try ContentionData(log: try log(legacy: true), top: 10, cgroups: CgroupFilter(paths: ["/a"]))
        XCTAssertEqual(filtered.model.callers.map(\.contended), [28])
    }

    func testServeLabelsByCgroupOnlyWhenAskedAndCountsThemAgainstMaxSeries() throws {
        let data = try ContentionData(log: try log(legacy: false), top: 10)
        let module = ContentionModule()
        let plain = try XCTUnwrap(module.metricFamilies(data, addresses: false).first)
        XCTAssertEqual(plain.labels, ["caller", "type", "lock"], "without serve.cgroups: as before")
        XCTAssertEqual(plain.points.count, 1)
        let labelled = try XCTUnwrap(module.metricFamilies(data, addresses: false, cgroups: true).first)
        XCTAssertEqual(labelled.labels, ["caller", "type", "lock", "cgroup"])
        XCTAssertEqual(Set(labelled.points.map { $0.labels[3] }), ["/a", "/b", "300"])

        var capped = ContentionTotals(maxRows: 2, cgroups: true)
        for cgroup in ["/a", "/b", "/c"] {
            capped.add(.init(caller: "f", type: "rwsem:W", lock: "", cgroup: cgroup), count: 1, total: 5, buckets: nil)
        }
        let points = try XCTUnwrap(capped.families.first).points
        XCTAssertEqual(points.map { $0.labels[3] }, ["/a", "/b", ExposedSeries.otherLabel], "one row per cgroup, capped")
    }

    func testTopsGKeyGroupsByCgroupAt80x24() {
        typealias W = ContentionTopReadings.Waits
        func w(_ tid: UInt32, _ cgroup: UInt64, _ count: UInt64, _ total: UInt64) -> W {
            W(
                key: .init(ls_bpf_key(lock: 1, stack_id: 1, tid: tid, cgroup: cgroup)), count: count, total: total,
                max: total / count, flags: 4, kind: 0)
        }
        let waits = [w(7, 100, 10, 1_000_000), w(8, 100, 10, 1_000_000), w(9, 200, 5, 4_000_000), w(10, 300, 1, 100)]
        let rows = ContentionTopTable.sorted(
            ContentionTopTable.cgroupRows(waits, paths: [100: "/system.slice/a.service", 200: "/b"]), sort: 0)
        XCTAssertEqual(rows.map(\.key), ["/b", "/system.slice/a.service", "300"])
        XCTAssertEqual(rows.map(\.count), [5, 20, 1])
        let table = LiveTable(
            header: "12:00:00 1.00 s: 26 contentions 26/s, wait 6.00 ms/s, 0 lost, lockstat CPU 0.2 %, system-wide",
            columns: ContentionTopTable.columns(keyTitle: "cgroup"),
            rows: rows.map { ContentionTopTable.cells($0, seconds: 1, owners: false) }, detail: [])
        let lines = LiveScreen.lines(table, status: "by cgroup", detail: false, width: 80, height: 24)
        XCTAssertTrue(lines.allSatisfy { $0.count <= 80 }, "\(lines.map(\.count))")
        XCTAssertEqual(lines[2], "contentions/s     wait/s       avg  max wait           type cgroup")
        XCTAssertEqual(lines[3], "            5    4.00 ms 800.00 us 800.00 us        rwsem:W /b")
        XCTAssertEqual(lines[4].count, 80, "a long path is cut at the edge, never wrapped")
        XCTAssertTrue(lines[4].hasSuffix(" /system.slice/a.serv"), lines[4])
        XCTAssertTrue(lines[5].hasSuffix(" 300"), lines[5])
        XCTAssertNil(ContentionTopTable.groupings.first { $0.key == "g" }?.unavailable, "g is a grouping now")
    }
}
