import Glibc
import XCTest
@testable import LockstatCore

final class RawLogTests: XCTestCase {
    func writeLog(_ dir: String, samples: Int) throws -> String {
        let path = dir + "/m.log"
        let source = dir + "/source"
        let writer = try RawLogWriter(path: path, initialCapacity: 64)
        writer.append(kind: .header, tick: 0, time: 500, text: "module m\ninterval_ns 100\nstart_ns 500\n")
        for i in 0..<samples {
            // A source larger than the writer's first buffer: the buffer grows, the bytes stay verbatim.
            try String(repeating: "line \(i)\n", count: 20 + i).write(toFile: source, atomically: false, encoding: .utf8)
            let fd = open(source, O_RDONLY)
            XCTAssertTrue(writer.appendSnapshot(of: fd, stream: 0, tick: UInt64(i), time: 500 + UInt64(i) * 100))
            close(fd)
        }
        writer.appendMissed(firstTick: UInt64(samples), count: 3, time: 9999)
        return path
    }

    func testRoundTripKeepsBytesTicksAndTimes() throws {
        let dir = temporaryDirectory()
        let log = try RawLog.read(path: try writeLog(dir, samples: 5))
        let snaps = log.snapshots()
        XCTAssertEqual(snaps.count, 5)
        XCTAssertEqual(log.droppedBytes, 0)
        XCTAssertEqual(log.startTime, 500)
        XCTAssertEqual(log.intervalNanoseconds, 100)
        XCTAssertEqual(log.missedTicks, 3)
        for (i, r) in snaps.enumerated() {
            XCTAssertEqual(r.tick, UInt64(i))
            XCTAssertEqual(log.seconds(r), Double(i) * 100 / 1e9, accuracy: 1e-15)
            XCTAssertEqual(log.text(r), String(repeating: "line \(i)\n", count: 20 + i))
        }
    }

    /// A torn tail at every possible byte: every whole record before it still reads.
    func testTornTailAtEveryOffset() throws {
        let dir = temporaryDirectory()
        let path = try writeLog(dir, samples: 3)
        guard case .success(let bytes) = FileReader.readAll(path) else { return XCTFail() }
        let full = try RawLog(path: path, bytes: bytes)
        let ends = full.records.map { $0.payload.upperBound }
        for cut in stride(from: ends[0], to: bytes.count, by: 1) {
            let log = try RawLog(path: path, bytes: Array(bytes[..<cut]))
            XCTAssertEqual(log.records.count, ends.filter { $0 <= cut }.count, "cut at \(cut)")
            XCTAssertEqual(log.droppedBytes, cut - (ends.filter { $0 <= cut }.last ?? 0))
        }
    }

    func testACorruptRecordIsSkippedAndReadingGoesOn() throws {
        let dir = temporaryDirectory()
        let path = try writeLog(dir, samples: 4)
        guard case .success(var bytes) = FileReader.readAll(path) else { return XCTFail() }
        let full = try RawLog(path: path, bytes: bytes)
        bytes[full.records[3].payload.lowerBound + 2] ^= 0x01   // a flipped bit in the third snapshot
        let log = try RawLog(path: path, bytes: bytes)
        XCTAssertEqual(log.snapshots().map(\.tick), [0, 1, 3])
        XCTAssertEqual(log.missedTicks, 3, "the record after the snapshots still reads")
        XCTAssertEqual(log.droppedBytes, 0)
        XCTAssertEqual(log.damaged.count, 1)
    }

    func testNotALog() {
        XCTAssertThrowsError(try RawLog(path: "x", bytes: Array("hello world, this is not a raw log at all".utf8)))
    }
}
