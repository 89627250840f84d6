import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// `lockstat parse` of a futex run's directory copied elsewhere, after the program was rebuilt
/// or removed: the stacks and lock words were named at the end of the run, from the run's own
/// files, so the copy's tables are the run's.
final class FutexCopiedRunTests: XCTestCase {
    static let tables = ["locks", "waiters", "wakers", "pairs"]

    func run(_ dir: String, _ command: [String]) throws -> PyValue {
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run"] + command, quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        return try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
    }

    /// A table's rows as text, in an order of their own (rows that tie on their sort key may come
    /// in either order).
    func rows(_ futex: PyValue, _ table: String) -> [String] {
        (futex[table]?.listItems ?? []).map { "\($0)" }.sorted()
    }

    /// A raw log's bytes less the records of the names stream (as the log stood before the naming).
    func withoutNames(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8]()
        var at = 0
        bytes.withUnsafeBytes { b in
            while at + RawLogFormat.headerSize <= b.count {
                let end = at + RawLogFormat.headerSize + Int(b.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
                guard end <= b.count else { break }
                if b.loadUnaligned(fromByteOffset: at + 24, as: UInt16.self) != FutexRecorder.namesStream {
                    out += b[at..<end]
                }
                at = end
            }
        }
        return out
    }

    /// futex_truth.c with another body: a data array and a function before its own, so its build
    /// ID, its symbols' addresses and its code all differ from the run's.
    func rebuild(_ exe: String, in dir: String) throws {
        let source = try String(
            contentsOfFile: Fixtures.repository.path + "/Tests/futex/futex_truth.c", encoding: .utf8)
        let other = """
            #include <stdint.h>
            volatile char another_body_data[12345] = {1};
            __attribute__((noinline, used)) int another_body(int x) { return x * 7 + another_body_data[x]; }

            """
        try (other + source).write(toFile: dir + "/other.c", atomically: true, encoding: .utf8)
        let cc = try shell(["cc", "-O2", "-pthread", "-o", exe + ".new", dir + "/other.c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        XCTAssertEqual(rename(exe + ".new", exe), 0)
    }

    /// The run names heavy_lock and lock_heavy / unlock_heavy; its directory copied after the
    /// program was rebuilt with another body (another build ID), and again after it was removed,
    /// parses to the same locks, waiters, wakers and pairs tables, and says no file was replaced.
    func testParseOfACopyAfterTheProgramIsRebuiltOrRemovedGivesTheSameTables() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        let exe = dir + "/bin/futex_truth"
        try compileFutexTruth(at: exe)
        let original = try run(dir, [exe, "1", "4"])
        let locks = try XCTUnwrap(original["locks"]?.listItems)
        XCTAssertEqual(locks.first?["key"]?.string, "heavy_lock (futex_truth)", "\(locks)")
        let waiters = rows(original, "waiters").joined(separator: "\n")
        let wakers = rows(original, "wakers").joined(separator: "\n")
        XCTAssertTrue(waiters.contains("lock_heavy"), waiters)
        XCTAssertTrue(wakers.contains("unlock_heavy"), wakers)
        // The naming redone here on the log without its names, while the files are still the run's:
        // the same names (what it costs at the end of a run: the same work).
        let path = dir + "/run/samples/futex.log"
        var damaged = 0
        let recorded = try XCTUnwrap(FutexNames(log: try RawLog.read(path: path), damaged: &damaged), "names recorded")
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let unnamed = try RawLog(path: path, bytes: withoutNames(bytes))
        let start = ls_monotonic_ns()
        let again = try FutexAnalysis(log: unnamed, kernelNames: false)
        print(String(format: "naming at the end of the run: %.1f ms", Double(ls_monotonic_ns() - start) / 1e6))
        XCTAssertEqual(again.names, recorded)
        XCTAssertFalse(recorded.stacks.isEmpty || recorded.locks.isEmpty)

        let before = UserMapping.buildID(ofFile: exe)
        try rebuild(exe, in: dir)
        XCTAssertNotEqual(UserMapping.buildID(ofFile: exe), before, "the rebuilt program is another build")
        for (copy, change) in [("rebuilt", "rebuilt"), ("removed", "removed")] {
            if change == "removed" { XCTAssertEqual(unlink(exe), 0) }
            let path = dir + "/" + copy
            XCTAssertEqual(try shell(["cp", "-r", dir + "/run", path]).status, 0)
            let parsed = try Lockstat.tool(["parse", path])
            XCTAssertEqual(parsed.status, 0, parsed.err)
            XCTAssertFalse(parsed.err.contains("replaced since the run"), "\(copy): \(parsed.err)")
            XCTAssertFalse(parsed.err.contains("could not read"), "\(copy): \(parsed.err)")
            let futex = try XCTUnwrap(try Lockstat.samples(path)["futex"])
            for table in Self.tables {
                XCTAssertFalse(rows(original, table).isEmpty, table)
                XCTAssertEqual(rows(futex, table), rows(original, table), "\(copy): \(table)")
            }
        }
    }

    /// The program rebuilt while the run goes on (after its map and build ID were recorded): at
    /// the end of the run its file is another build, so it names nothing: its frames and lock
    /// words are [unknown] or offsets, its waits still counted, and parse says so in one warning.
    func testAProgramReplacedDuringTheRunIsStillRefused() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/bin", withIntermediateDirectories: true)
        let exe = dir + "/bin/futex_truth"
        try compileFutexTruth(at: exe)
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let log = dir + "/run/samples/futex.log"
        let run = try Lockstat.start(["--config", dir + "/f.config", dir + "/run", exe, "4", "4"])
        defer { if run.isRunning { run.terminate() } }
        let recorded = eventually(10) {
            guard let raw = try? RawLog.read(path: log) else { return false }
            return raw.sideRecords(stream: FutexRecorder.buildIDsStream).contains { raw.text($0).contains(exe) }
        }
        XCTAssertTrue(recorded, "the program's build ID recorded while it runs")
        try rebuild(exe, in: dir)
        XCTAssertTrue(run.isRunning, "replaced during the run")
        run.waitUntilExit()
        XCTAssertEqual(run.terminationStatus, 0)

        let parsed = try Lockstat.tool(["parse", dir + "/run"])
        XCTAssertEqual(parsed.status, 0, parsed.err)
        XCTAssertEqual(parsed.err.components(separatedBy: "\(exe) replaced since the run").count - 1, 1, parsed.err)
        let futex = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        let locks = rows(futex, "locks").joined(separator: "\n")
        let waiters = rows(futex, "waiters").joined(separator: "\n")
        XCTAssertFalse(locks.contains("heavy_lock"), locks)
        XCTAssertFalse(waiters.contains("lock_heavy"), waiters)
        let analysis = try FutexAnalysis(log: RawLog.read(path: log))
        XCTAssertEqual(analysis.replacedFiles, [exe])
        let mine = analysis.waits.filter { $0.task.hasPrefix("futex_truth[") && $0.wait.slept }
        XCTAssertGreaterThan(mine.reduce(0) { $0 + $1.wait.count }, 100, "its waits still counted")
    }
}
