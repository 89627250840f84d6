import Foundation
import Glibc
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Damaged raw logs: what one flipped bit costs (docs/bad-input.md).
final class FaultTests: XCTestCase {
    /// A log of `count` snapshots of a growing file, records written as the sampler writes them.
    func log(_ dir: String, count: Int) throws -> (path: String, bytes: [UInt8]) {
        let path = dir + "/m.log", source = dir + "/source"
        let writer = try RawLogWriter(path: path)
        writer.append(kind: .header, tick: 0, time: 0, text: "module m\ninterval_ns 100000000\nstart_ns 0\n")
        for i in 0..<count {
            try String(repeating: "line \(i)\n", count: 30).write(toFile: source, atomically: false, encoding: .utf8)
            let fd = open(source, O_RDONLY)
            writer.appendSnapshot(of: fd, stream: 0, tick: UInt64(i), time: UInt64(i) * 100_000_000)
            close(fd)
        }
        guard case .success(let bytes) = FileReader.readAll(path) else { throw LockstatError("no log") }
        return (path, bytes)
    }

    /// One flipped bit in the middle record of a 62-record log loses that record only.
    func testOneDamagedRecordLosesOnlyItself() throws {
        var (path, bytes) = try log(temporaryDirectory(), count: 61)
        let whole = try RawLog(path: path, bytes: bytes)
        let victim = whole.records[31]
        bytes[victim.payload.lowerBound + 5] ^= 0x10
        let damaged = try RawLog(path: path, bytes: bytes)
        XCTAssertEqual(damaged.snapshots().count, 60)
        XCTAssertEqual(damaged.droppedBytes, 0, "no torn tail")
        XCTAssertEqual(damaged.snapshots().map(\.tick), whole.snapshots().map(\.tick).filter { $0 != victim.tick })
        let start = victim.payload.lowerBound - RawLogFormat.headerSize
        XCTAssertEqual(damaged.damageReport, "\(path): damaged 1 record at bytes \(start)–\(victim.payload.upperBound); 30 after it recovered")
    }

    /// In a delta-compressed stream the differences after the damage cannot be decoded: they are
    /// counted as lost up to the next standalone frame, from which reading goes on.
    func testDamageInACompressedStreamLosesUpToTheNextStandaloneFrame() throws {
        let dir = temporaryDirectory(), source = dir + "/source", path = dir + "/d.log"
        let writer = try RawLogWriter(path: path)
        writer.append(kind: .header, tick: 0, time: 0, text: "module d\ninterval_ns 1\nstart_ns 0\n")
        try "start\n".write(toFile: source, atomically: false, encoding: .utf8)
        let recorder = try DeltaSnapshotRecorder(path: source, log: writer)
        let count = Int(DeltaSnapshotRecorder.keyframeEvery) * 2 + 10
        for i in 0..<count {
            try "snapshot \(i)\n\(String(repeating: "same line\n", count: 50))".write(toFile: source, atomically: false, encoding: .utf8)
            XCTAssertTrue(recorder.sample(tick: UInt64(i), time: UInt64(i)))
        }
        guard case .success(var bytes) = FileReader.readAll(path) else { return XCTFail() }
        let whole = try RawLog(path: path, bytes: bytes)
        bytes[whole.snapshots()[10].payload.lowerBound + 3] ^= 0x40
        let damaged = try RawLog(path: path, bytes: bytes)
        var decoded = [String]()
        try damaged.snapshots().read { _, b in decoded.append(String(decoding: b, as: UTF8.self).split(separator: "\n")[0].description) }
        let keyframe = Int(DeltaSnapshotRecorder.keyframeEvery)
        XCTAssertEqual(decoded, (0..<10).map { "snapshot \($0)" } + (keyframe..<count).map { "snapshot \($0)" })
        XCTAssertEqual(damaged.snapshotsLostToDamage, keyframe - 11)
        XCTAssertTrue(damaged.damageReport?.hasSuffix("\(keyframe - 11) compressed snapshots after it lost up to the next standalone frame") == true,
                      damaged.damageReport ?? "no report")
    }
}
