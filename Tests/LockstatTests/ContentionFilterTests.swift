import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.types at recording (bpf mode: dropped at the drain, before the raw log) against an
/// unfiltered run of the same storms, and report's and compare's --type, --lock, --stack.
final class ContentionFilterTests: XCTestCase {
    let bpf = BPFContentionTests(name: "helper", testClosure: { _ in })

    func rows(_ contention: PyValue, _ table: String) -> [(key: String, type: String, contended: Double)] {
        let key = String(table.dropLast())
        return (contention[table]?.listItems ?? []).map {
            ($0[key]!.string!, $0["type"]!.string!, $0["contended"]!.number!)
        }
    }

    /// `report --top N` rows of one table: (contended, type); the type is the next to last cell.
    func reportRows(_ text: String) -> [(contended: Double, type: String)] {
        text.split(separator: "\n").compactMap { line in
            let cells = line.split(separator: " ", omittingEmptySubsequences: true)
            guard cells.count >= 7, let contended = Double(cells[0]) else { return nil }
            return (contended, String(cells[cells.count - 2]))
        }
    }

    /// Waits of rwsem entries (flags 2 read, 4 write) in a run's raw log, read without a filter;
    /// and whether it holds entries of other types.
    func rwsemWaits(_ run: String) throws -> (waits: Double, others: Bool) {
        let log = try RawLog.read(path: run + "/samples/contention.log")
        let raw = BPFAggregates(log: log, analysis: ContentionAnalysis(groups: [], symbols: KernelSymbols("")))
        let rwsem = raw.groups.filter { $0.flags == 2 || $0.flags == 4 }
        return (Double(rwsem.reduce(0) { $0 + $1.count }), rwsem.count < raw.groups.count)
    }

    /// An outer lockstat (unfiltered) runs an inner one (contention.types rwsem) around a
    /// mkdir/rmdir storm and a futex storm, both following their program: the inner one's raw
    /// log holds rwsem entries only, and its count equals the outer one's rwsem rows, less what
    /// the inner lockstat's own threads waited for (the outer one follows it too).
    func testRecordingKeepsOnlyTheTypesAndCountsAsTheUnfilteredRun() throws {
        try bpf.requireBPF()
        let dir = temporaryDirectory()
        let mkdir = try bpf.compile("mkdir-storm.c"), futex = try bpf.compile("futex-storm.c")
        let common = "modules contention\ncontention.mode bpf\ncontention.scope program\n"
        try common.write(toFile: dir + "/all.config", atomically: true, encoding: .utf8)
        try (common + "contention.types rwsem\n").write(toFile: dir + "/rwsem.config", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: dir + "/m", withIntermediateDirectories: true)
        let storms = "\(mkdir) \(dir)/m 3 2 >/dev/null & \(futex) 3 2 >/dev/null; wait"
        let r = try Lockstat.run([
            "--config", dir + "/all.config", dir + "/all", Lockstat.binaries + "/lockstat", "run", "--quiet",
            "--config", dir + "/rwsem.config", dir + "/rwsem", "sh", "-c", storms,
        ])
        XCTAssertEqual(r.status, 0, r.err)
        let all = try Lockstat.samples(dir + "/all")["contention"]!
        let rwsem = try Lockstat.samples(dir + "/rwsem")["contention"]!

        // What the drain wrote: rwsem waits only, read without a filter. (A caller's row in the
        // tables has its first wait's type: the raw log is where the types are exact.)
        let (filtered, dropped) = try rwsemWaits(dir + "/rwsem")
        let (unfiltered, others) = try rwsemWaits(dir + "/all")
        XCTAssertFalse(dropped, "only rwsem entries in the filtered run's raw log")
        XCTAssertTrue(others, "the unfiltered run has the futex storm's other waits")
        XCTAssertTrue(rows(rwsem, "callers").allSatisfy { $0.type.hasPrefix("rwsem:") }, "\(rows(rwsem, "callers"))")
        XCTAssertEqual(rows(rwsem, "callers").reduce(0) { $0 + $1.contended }, filtered)
        print("rwsem waits: \(filtered) recorded with contention.types rwsem, \(unfiltered) by the unfiltered run")
        XCTAssertGreaterThan(filtered, 200, "the storm contended")
        XCTAssertLessThanOrEqual(filtered, unfiltered)
        XCTAssertEqual(filtered, unfiltered, accuracy: unfiltered * 0.05)

        // Reading: report --type gives the unfiltered run's rows of that type, exactly.
        let report = try shell([
            Lockstat.binaries + "/lockstat", "report", dir + "/all", "--type", "rwsem", "--by", "caller", "--top",
            "100000",
        ])
        XCTAssertEqual(report.status, 0, report.err)
        let reported = reportRows(report.out)
        XCTAssertTrue(reported.allSatisfy { $0.type.hasPrefix("rwsem:") }, report.out)
        XCTAssertEqual(reported.reduce(0) { $0 + $1.contended }, unfiltered, report.out)
        let stack = try shell([
            Lockstat.binaries + "/lockstat", "report", dir + "/all", "--stack", "futex", "--top", "100000",
        ])
        XCTAssertEqual(stack.status, 0, stack.err)
        XCTAssertGreaterThan(reportRows(stack.out).count, 0, stack.out)
        XCTAssertFalse(reportRows(stack.out).contains { $0.type == "rwsem:W" }, "no mkdir stack has a futex frame")
        // One lock by its address: the busiest of the locks table.
        let busiest = try XCTUnwrap(rows(all, "locks").max { $0.contended < $1.contended })
        let address = String(busiest.key.split(separator: "(").last!.dropLast(busiest.key.contains("(") ? 1 : 0))
        let lock = try shell([
            Lockstat.binaries + "/lockstat", "report", dir + "/all", "--lock", "0x" + address, "--by", "lock",
        ])
        XCTAssertEqual(lock.status, 0, lock.err)
        XCTAssertEqual(reportRows(lock.out).map(\.contended), [busiest.contended], lock.out)

        // compare reads through the same filter.
        let compare = try shell([
            Lockstat.binaries + "/lockstat", "compare", dir + "/all", dir + "/rwsem", "--type", "rwsem", "--format", "csv",
        ])
        XCTAssertEqual(compare.status, 0, compare.err)
        XCTAssertFalse(compare.out.contains("spinlock"), compare.out)

        // An unknown type: one line naming the option and the valid types, exit 2, for both.
        for command in [["report", dir + "/all"], ["compare", dir + "/all", dir + "/rwsem"]] {
            let bad = try shell([Lockstat.binaries + "/lockstat"] + command + ["--type", "mutx"])
            XCTAssertEqual(bad.status, 2, bad.err)
            XCTAssertTrue(bad.err.hasPrefix("lockstat: --type: takes words from spinlock, "), bad.err)
            XCTAssertTrue(bad.err.hasSuffix(", got 'mutx'\n"), bad.err)
            XCTAssertEqual(bad.err.split(separator: "\n").count, 1, bad.err)
        }
    }

    /// contention.types with an unknown type stops the run before the program starts: the config
    /// line named, exit 2.
    func testAnUnknownTypeInTheConfigIsAUsageError() throws {
        let dir = temporaryDirectory()
        try "modules contention\ncontention.types mutex spinlok\n".write(
            toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "touch", dir + "/ran"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(
            r.err.hasPrefix("lockstat: \(dir)/c.config:2: key 'contention.types' takes words from spinlock, "), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"), "the program did not run")
    }
}
