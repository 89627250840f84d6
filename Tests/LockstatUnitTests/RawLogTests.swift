import Glibc
import XCTest
@testable import LockstatCore
@testable import LockstatModules

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

/// Streams: numbered ones (per CPU) never meet named ones, whatever the CPU count.
final class RawLogStreamTests: XCTestCase {
    /// A replayed set of contention rings from a 600-CPU machine: every CPU's events pair and
    /// count (format 1 put the drain marks at stream 999, which was CPU 499's contention_end).
    func testSixHundredCPUsRingsParseEveryCPU() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/proc", withIntermediateDirectories: true)
        try "ffffffff81000000 T _stext\nffffffff81000100 T do_work\nffffffff81000200 T other_work\n"
            .write(toFile: dir + "/proc/kallsyms", atomically: true, encoding: .utf8)
        let writer = try RawLogWriter(path: dir + "/contention.log")
        writer.append(kind: .header, tick: 0, time: 0, text: "module contention\nformat 2\ninterval_ns 10000000\nstart_ns 0\n")
        writer.append(kind: .side, stream: ContentionModule.layoutStream, tick: 0, time: 0,
                      text: "begin_id 1\nend_id 2\nlock_addr_offset 8\nflags_offset 16\nret_offset 16\nmode ring\nscope system\n")
        KallsymsRecord.append(SystemRoot(dir), to: writer, stream: ContentionModule.kallsymsStream)
        /// PERF_RECORD_SAMPLE: pid, tid; time; cpu, res; [callchain nr, ips]; raw size, raw data.
        func sample(tid: UInt32, time: UInt64, cpu: UInt32, type: UInt16, chain: [UInt64]?) -> [UInt8] {
            var body = [UInt8]()
            func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { body += $0 } }
            put(tid); put(tid); put(time); put(cpu); put(UInt32(0))
            if let chain { put(UInt64(chain.count)); chain.forEach { put($0) } }
            var raw = [UInt8](repeating: 0, count: 24)
            raw.withUnsafeMutableBytes { $0.storeBytes(of: type, as: UInt16.self); $0.storeBytes(of: UInt64(0xdead0000), toByteOffset: 8, as: UInt64.self)
                                         $0.storeBytes(of: UInt32(1), toByteOffset: 16, as: UInt32.self) }
            put(UInt32(raw.count)); body += raw
            var record = [UInt8]()
            withUnsafeBytes(of: UInt32(9).littleEndian) { record += $0 }
            withUnsafeBytes(of: UInt16(0).littleEndian) { record += $0 }
            withUnsafeBytes(of: UInt16(8 + body.count).littleEndian) { record += $0 }
            return record + body
        }
        let cpus: [UInt32] = [0, 499, 500, 599]
        for (i, cpu) in cpus.enumerated() {
            let begin = sample(tid: 100 + cpu, time: 1_000_000 + UInt64(i), cpu: cpu, type: 1,
                               chain: [0xffffffff81000010, 0xffffffff81000011, 0xffffffff81000012, 0xffffffff81000110])
            let end = sample(tid: 100 + cpu, time: 2_000_000 + UInt64(i), cpu: cpu, type: 2, chain: nil)
            begin.withUnsafeBytes { writer.append(kind: .snapshot, stream: UInt16(2 * cpu), tick: 0, time: 3_000_000, payload: $0) }
            end.withUnsafeBytes { writer.append(kind: .snapshot, stream: UInt16(2 * cpu + 1), tick: 0, time: 3_000_000, payload: $0) }
        }
        writer.append(kind: .side, stream: PerfRings.drainedStream, tick: 0, time: 4_000_000, text: "")
        let log = try RawLog.read(path: dir + "/contention.log")
        XCTAssertEqual(log.formatVersion, 2)
        let parsed = try ContentionModule().parse(log, config: Config(modules: ["contention"])).data
        let callers = parsed["callers"]!.listItems!
        XCTAssertEqual(callers.map { $0["caller"]!.string! }, ["do_work+0x10"])
        XCTAssertEqual(callers.first?["contended"]?.number, Double(cpus.count), "every CPU's pair, CPU 499's and 500's included")
        XCTAssertEqual(parsed["unpaired"]?.number, 0)
        XCTAssertEqual(parsed["tasks"]!.listItems!.count, cpus.count)
    }

    /// A log of a later format is refused with a clear line; one of format 1 reads its named
    /// streams where they were.
    func testFormatVersions() throws {
        let dir = temporaryDirectory()
        let newer = try RawLogWriter(path: dir + "/newer.log")
        newer.append(kind: .header, tick: 0, time: 0, text: "module m\nformat 9\ninterval_ns 1\nstart_ns 0\n")
        XCTAssertThrowsError(try RawLog.read(path: dir + "/newer.log")) { error in
            XCTAssertEqual("\(error)", "\(dir)/newer.log: written by a newer lockstat (raw log format 9; this one reads 1 to 2)")
        }
        let old = try RawLogWriter(path: dir + "/old.log")
        old.append(kind: .header, tick: 0, time: 0, text: "module m\ninterval_ns 1\nstart_ns 0\n")
        old.append(kind: .side, stream: 999, tick: 0, time: 5, text: "")
        old.append(kind: .side, stream: 1001, tick: 0, time: 6, text: "layout")
        let log = try RawLog.read(path: dir + "/old.log")
        XCTAssertEqual(log.formatVersion, 1)
        XCTAssertEqual(log.sideRecords(stream: PerfRings.drainedStream).map(\.time), [5])
        XCTAssertEqual(log.sideRecords(stream: ContentionModule.layoutStream).map(log.text), ["layout"])
    }
}
