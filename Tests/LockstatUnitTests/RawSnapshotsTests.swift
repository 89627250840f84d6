import Glibc
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// `RawLog.snapshots().read` is the one way parsers walk a stream: a stream stored as zstd frames
/// (DeltaSnapshotRecorder) parses as the same stream stored plain (FileSnapshotRecorder).
final class RawSnapshotsTests: XCTestCase {
    /// The same captures recorded once plain and once as zstd differences, each a raw log of its own.
    func logs(_ fixtures: [String]) throws -> (plain: RawLog, compressed: RawLog) {
        let dir = temporaryDirectory("snapshots")
        let source = dir + "/source"
        let plain = try RawLogWriter(path: dir + "/plain.log")
        let compressed = try RawLogWriter(path: dir + "/compressed.log")
        for writer in [plain, compressed] {
            writer.append(kind: .header, tick: 0, time: 0, text: "module m\ninterval_ns 1000000000\nstart_ns 0\n")
        }
        FileManager.default.createFile(atPath: source, contents: nil)
        let plainRecorder = try FileSnapshotRecorder(paths: [source], log: plain)
        let compressedRecorder = try DeltaSnapshotRecorder(path: source, log: compressed)
        for (i, fixture) in fixtures.enumerated() {
            try Data(try Fixtures.bytes(fixture)).write(to: URL(fileURLWithPath: source))
            let time = UInt64(i + 1) * 1_000_000_000
            XCTAssertTrue(plainRecorder.sample(tick: UInt64(i), time: time))
            XCTAssertTrue(compressedRecorder.sample(tick: UInt64(i), time: time))
        }
        plain.finish()
        compressed.finish()
        return (try RawLog.read(path: dir + "/plain.log"), try RawLog.read(path: dir + "/compressed.log"))
    }

    func assertSameResults(_ module: some LockstatModule, _ fixtures: [String]) throws {
        let (plain, compressed) = try logs(fixtures)
        XCTAssertEqual(plain.snapshots().map(\.kind), Array(repeating: .snapshot, count: fixtures.count))
        XCTAssertEqual(compressed.snapshots().map(\.kind),
                       [.compressedSnapshot] + Array(repeating: .compressedDelta, count: fixtures.count - 1))
        let config = Config(modules: [module.name])
        let expected = try module.parse(plain, config: config)
        XCTAssertEqual(try module.parse(compressed, config: config).data, expected.data, module.name)
        XCTAssertTrue(expected.warnings.isEmpty, "\(expected.warnings)")
        let served = try module.analyze(plain, config: config, parts: AnalysisRequest(.metrics)).metricFamilies
        XCTAssertFalse(served.isEmpty)
        let compressedServed = try module.analyze(compressed, config: config, parts: AnalysisRequest(.metrics)).metricFamilies
        XCTAssertEqual(Exposition.render(compressedServed, format: .prometheus), Exposition.render(served, format: .prometheus),
                       module.name)
    }

    func testACompressedStatStreamParsesAsThePlainOne() throws {
        try assertSameResults(StatModule(), ["stat/sysstat-10cpu-7col.txt", "stat/sysstat-steal-guest-10col.txt",
                                             "stat/sysstat-steal-guest-10col.txt"])
    }

    func testACompressedDiskstatsStreamParsesAsThePlainOne() throws {
        try assertSameResults(DiskstatsModule(), ["diskstats/vm-6.18-20field.txt", "diskstats/vm-6.18-20field.txt"])
    }
}
