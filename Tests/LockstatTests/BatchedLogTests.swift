import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// stat's and diskstats' raw logs are batched: a second of snapshots in one zstd record written
/// off the sampling thread. What they store, what parse makes of them, what damage and kill -9 cost.
final class BatchedLogTests: XCTestCase {
    /// Bytes the snapshots of a log hold (what was read from the kernel).
    func snapshotBytes(_ log: RawLog) -> Int { log.snapshots().reduce(0) { $0 + log.payloadBytes($1).count } }

    func run(_ dir: String, seconds: Double, interval: Double = 0.01) throws {
        let r = try Lockstat.run(["--interval", String(interval), "--modules", "stat,diskstats", dir, "sleep", String(seconds)])
        XCTAssertEqual(r.status, 0, r.err)
    }

    /// At 100 Hz for 4 s: each log holds batches only and stores at most a tenth of the bytes read.
    func testAStatAndDiskstatsRunStoresATenthOfWhatItReads() throws {
        let dir = temporaryDirectory()
        try run(dir + "/run", seconds: 4)
        var stored = 0, read = 0
        for module in ["stat", "diskstats"] {
            let path = dir + "/run/samples/\(module).log"
            let log = try RawLog.read(path: path)
            XCTAssertGreaterThanOrEqual(log.snapshots().count, 350, module)
            XCTAssertGreaterThanOrEqual(log.batches.count, 4, "a batch a second at most")
            XCTAssertTrue(log.records.filter { $0.kind == .snapshot }.allSatisfy { $0.batch >= 0 }, "every snapshot in a batch")
            stored += Int(try FileManager.default.attributesOfItem(atPath: path)[.size] as! UInt64)
            read += snapshotBytes(log)
        }
        XCTAssertLessThanOrEqual(Double(stored), Double(read) * 0.10, "stored \(stored) of \(read) bytes read")
    }

    /// The same records written one by one, uncompressed: `lockstat parse` makes the same
    /// samples.json of both.
    func testParseOfBatchedLogsEqualsParseOfTheSameRecordsWrittenPlain() throws {
        let dir = temporaryDirectory()
        try run(dir + "/run", seconds: 2, interval: 0.02)
        try FileManager.default.copyItem(atPath: dir + "/run", toPath: dir + "/plain")
        for module in ["stat", "diskstats"] {
            let log = try RawLog.read(path: dir + "/run/samples/\(module).log")
            let path = dir + "/plain/samples/\(module).log"
            try FileManager.default.removeItem(atPath: path)
            let writer = try RawLogWriter(path: path)
            for r in log.records { writer.append(kind: r.kind, stream: r.stream, tick: r.tick, time: r.time, payload: log.payloadBytes(r)) }
            let plain = try RawLog.read(path: path)
            XCTAssertEqual(plain.batches.count, 0)
            XCTAssertEqual(plain.records.count, log.records.count)
        }
        XCTAssertEqual(try Lockstat.tool(["parse", dir + "/plain"]).status, 0)
        XCTAssertEqual(try Lockstat.tool(["parse", dir + "/run"]).status, 0)
        let a = try String(contentsOfFile: dir + "/run/samples.json", encoding: .utf8), b = try String(contentsOfFile: dir + "/plain/samples.json", encoding: .utf8)
        XCTAssertEqual(a, b)
        XCTAssertGreaterThan(a.count, 10_000)
    }

    /// A torn tail loses the last batch only (at most a second of samples); a flipped byte in a
    /// batch loses it and the batches made against it, up to the next standalone one, and says so.
    func testATornTailLosesTheLastBatchAndDamageSaysWhatItCost() throws {
        let dir = temporaryDirectory()
        try run(dir + "/run", seconds: 3)
        let path = dir + "/run/samples/stat.log"
        let whole = try RawLog.read(path: path)
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let torn = try RawLog(path: path, bytes: Array(bytes.dropLast(7)))
        let lost = whole.snapshots().count - torn.snapshots().count
        XCTAssertGreaterThan(lost, 0)
        XCTAssertLessThanOrEqual(lost, 101, "one batch: at most a second at 100 Hz")
        XCTAssertGreaterThan(torn.droppedBytes, 0)
        let middle = whole.batches[whole.batches.count / 2].payload
        bytes[middle.lowerBound + middle.count / 2] ^= 0x40
        let damaged = try RawLog(path: path, bytes: bytes)
        XCTAssertLessThan(damaged.snapshots().count, whole.snapshots().count)
        XCTAssertGreaterThan(damaged.snapshots().count, 0)
        XCTAssertEqual(damaged.batchesLost, whole.batches.count - whole.batches.count / 2 - 1, "the chained batches after the damaged one")
        XCTAssertTrue(damaged.damageReport?.contains("batches of records after it lost up to the next standalone batch") == true, damaged.damageReport ?? "")
    }

    /// kill -9 of lockstat 3 s into a run: the logs hold every snapshot up to at most a second
    /// (one batch) before the kill, and parse reads them.
    func testKill9LosesAtMostTheLastSecond() throws {
        let dir = temporaryDirectory()
        let p = try Lockstat.start(["--interval", "0.01", "--modules", "stat,diskstats", dir + "/run", "sleep", "30"])
        let started = Date()
        Thread.sleep(forTimeInterval: 3)
        let killedAfter = Date().timeIntervalSince(started)
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        for module in ["stat", "diskstats"] {
            let log = try RawLog.read(path: dir + "/run/samples/\(module).log")
            let last = try XCTUnwrap(log.snapshots().last.map(log.seconds))
            // The run's clock starts after presampling, a little after the process did.
            XCTAssertGreaterThan(last, killedAfter - 1.0 - 0.5, module)
            XCTAssertEqual(log.droppedBytes, 0, "nothing torn: a batch is one write")
        }
        XCTAssertEqual(try Lockstat.tool(["parse", dir + "/run"]).status, 0)
    }

}
