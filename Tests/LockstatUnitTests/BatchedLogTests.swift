import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Batched raw logs written and read back in memory (the runs that batch are in the system tier).
final class BatchedLogTests: XCTestCase {
    /// Records read back in any order equal what was written, across many batches, standalone
    /// ones among them (the cache decodes from the nearest one it can).
    func testEveryRecordReadsBackInAnyOrder() throws {
        let dir = temporaryDirectory()
        let writer = try RawLogWriter(path: dir + "/x.log")
        writer.append(kind: .header, tick: 0, time: 0, text: "module x\nformat 2\ninterval_ns 1000\nstart_ns 0\n")
        writer.startBatching(period: 0.001)
        var written = [String]()
        for i in 0..<3000 {
            let text = "snapshot \(i) " + String(repeating: "x", count: i % 97)
            written.append(text)
            writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i), text: text)
            if i % 20 == 0 { usleep(2000) }
        }
        writer.finish()
        let log = try RawLog.read(path: dir + "/x.log")
        XCTAssertGreaterThan(log.batches.count, Int(RawLogFormat.batchKeyframeEvery) + 1, "enough batches for a second standalone one")
        XCTAssertTrue(log.batches.contains { !$0.chained } && log.batches.contains { $0.chained })
        let snapshots = log.snapshots()
        XCTAssertEqual(snapshots.count, written.count)
        for i in Array(snapshots.indices).shuffled() { XCTAssertEqual(log.text(snapshots[i]), written[i]) }
    }
}
