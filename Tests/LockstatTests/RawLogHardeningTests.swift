import Foundation
import XCTest
@testable import LockstatCore

/// Raw logs lockstat did not write as it writes them: compressed records that claim or hold
/// more than a record may (a zstd frame header claiming 2^60 bytes, a zstd bomb), and logs that
/// cannot be read at all (missing, a FIFO, a symlink, unreadable). Each is said in one line
/// naming the log; nothing already recorded is lost.
final class RawLogHardeningTests: XCTestCase {
    // MARK: Logs made here

    /// This machine's /proc/stat with every counter advanced by `tick`.
    static func statSnapshot(_ tick: Int) throws -> String {
        guard case .success(let text) = FileReader.readText("/proc/stat") else { throw XCTSkip("SKIPPED: no /proc/stat") }
        return text.split(separator: "\n").map { line in
            line.split(separator: " ", omittingEmptySubsequences: false).enumerated()
                .map { k, t in k >= 3 ? (UInt64(t).map { String($0 + UInt64(tick * (k + 1))) } ?? String(t)) : String(t) }
                .joined(separator: " ")
        }.joined(separator: "\n") + "\n"
    }

    /// A test directory of `modules` (config only, `samples/` empty).
    static func testDirectory(_ dir: String, modules: [String]) throws {
        try FileManager.default.createDirectory(atPath: dir + "/samples", withIntermediateDirectories: true)
        try Config(modules: modules, interval: 0.1).rendered().write(toFile: dir + "/lockstat.config", atomically: false, encoding: .utf8)
    }

    static func header(_ writer: RawLogWriter, module: String) {
        writer.append(kind: .header, tick: 0, time: 0, text: "module \(module)\nformat \(RawLogFormat.version)\ninterval_ns 100000000\nstart_ns 0\n")
    }

    /// samples/stat.log as a run writes it: `before` snapshots batched, then each of `middle`
    /// as a record of its own (framed and checksummed), then `after` snapshots batched.
    static func statLog(_ dir: String, before: Int, middle: [(RawRecordKind, [UInt8])], after: Int) throws {
        try testDirectory(dir, modules: ["stat"])
        let writer = try RawLogWriter(path: dir + "/samples/stat.log")
        header(writer, module: "stat")
        func snapshots(_ ticks: Range<Int>) throws {
            writer.startBatching()
            for i in ticks { writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i) * 100_000_000, text: try statSnapshot(i)) }
            writer.finish()
        }
        try snapshots(0..<before)
        for (kind, payload) in middle {
            payload.withUnsafeBytes { writer.append(kind: kind, tick: UInt64(before), time: UInt64(before) * 100_000_000, payload: $0) }
        }
        try snapshots(before..<(before + after))
    }

    /// A zstd frame whose header claims 2^60 bytes of content (single segment, 8-byte size) and
    /// holds one empty last block.
    static let claims2To60: [UInt8] = [0x28, 0xB5, 0x2F, 0xFD, 0xE0] + withUnsafeBytes(of: (UInt64(1) << 60).littleEndian, Array.init) + [0x01, 0x00, 0x00]

    /// `size` zero bytes made into one zstd frame by libzstd (the project's wrapper): a bomb a
    /// few tens of KB long. The zeros are an untouched anonymous mapping (no memory used).
    static func bomb(_ size: Int) throws -> [UInt8] {
        guard let zeros = mmap(nil, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), zeros != MAP_FAILED else { throw LockstatError("mmap") }
        defer { munmap(zeros, size) }
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: Zstd.bound(size), alignment: 8)
        defer { frame.deallocate() }
        let n = Zstd().compress(UnsafeRawBufferPointer(start: zeros, count: size), prefix: nil, into: frame, level: 1)
        XCTAssertGreaterThan(n, 0)
        return Array(frame[0..<n])
    }

    /// The same frame with its header's content size made `declared` (a bomb that lies).
    static func declaring(_ declared: UInt32, _ frame: [UInt8]) -> [UInt8] {
        var frame = frame
        let descriptor = frame[4]
        let singleSegment = descriptor & 0x20 != 0
        XCTAssertEqual(descriptor >> 6, 2, "a 4-byte content size")
        let offset = 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][Int(descriptor & 3)]
        withUnsafeBytes(of: declared.littleEndian) { for k in 0..<4 { frame[offset + k] = $0[k] } }
        return frame
    }

    /// `command` under GNU time: its status, stderr without time's line, and its peak RSS in MB.
    func measured(_ command: [String]) throws -> (status: Int32, err: String, peakMB: Double) {
        let r = try shell(["/usr/bin/time", "-f", "peak_kb %M"] + command)
        var lines = r.err.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let line = try XCTUnwrap(lines.last { $0.hasPrefix("peak_kb ") }, r.err)
        lines.removeAll { $0 == line }
        // GNU time reports a signal on a line of its own.
        lines.removeAll { $0.hasPrefix("Command terminated by signal") || $0.hasPrefix("Command exited with non-zero status") }
        return (r.status, lines.joined(separator: "\n"), try XCTUnwrap(Double(line.dropFirst(8))) / 1024)
    }

    func samples(_ dir: String) throws -> PyValue { try Lockstat.samples(dir) }

    // MARK: Compressed records over the bound

    /// A batch whose frame claims 2^60 bytes: parse and export said "failed to allocate" and
    /// died of SIGABRT. Now the record is refused in one line naming the log, and every
    /// snapshot before and after it is in samples.pickle.
    func testABatchClaiming2To60BytesIsRefusedAndTheRestParses() throws {
        let dir = temporaryDirectory()
        try Self.statLog(dir, before: 20, middle: [(.compressedBatch, Self.claims2To60)], after: 20)
        let parse = try Lockstat.tool(["parse", dir])
        XCTAssertEqual(parse.status, 0, parse.err)
        let lines = parse.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, parse.err)
        XCTAssertTrue(lines.first?.hasPrefix("lockstat: warning: \(dir)/samples/stat.log: refused 1 compressed record at byte ") ?? false, parse.err)
        XCTAssertEqual(try samples(dir)["stat"]?["time"]?.series?.count, 40, "the 20 snapshots before it and the 20 after")
        let export = try Lockstat.tool(["export", dir, "--format", "openmetrics", "--output", "-"])
        XCTAssertEqual(export.status, 0, export.err)
        XCTAssertTrue(export.out.contains("lockstat_"), export.out)
    }

    /// A 1 GiB zstd bomb as a batch, and the same bomb declaring 8 MiB (it holds 1 GiB): parse
    /// took seconds and GBs. Now it refuses the one and loses the other at the 8 MiB it
    /// declared, in about the memory of the same log without them.
    func testAZstdBombCostsNoMoreMemoryThanTheBound() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/time") else {
            throw XCTSkip("SKIPPED: no /usr/bin/time (GNU time measures the peak RSS)")
        }
        let bomb = try Self.bomb(1 << 30)
        XCTAssertLessThan(bomb.count, 200_000, "a bomb: 1 GiB in \(bomb.count) bytes")
        let normal = temporaryDirectory() + "/normal", bombed = temporaryDirectory() + "/bombed"
        try Self.statLog(normal, before: 20, middle: [], after: 20)
        try Self.statLog(bombed, before: 20, middle: [(.compressedBatch, bomb), (.compressedBatch, Self.declaring(8 << 20, bomb))], after: 20)
        let a = try measured([Lockstat.binaries + "/lockstat", "parse", normal])
        let b = try measured([Lockstat.binaries + "/lockstat", "parse", bombed])
        XCTAssertEqual(a.status, 0, a.err)
        XCTAssertEqual(b.status, 0, b.err)
        let lines = b.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, b.err)
        XCTAssertTrue(lines.first?.hasPrefix("lockstat: warning: \(bombed)/samples/stat.log: refused 1 compressed record at byte ") ?? false, b.err)
        XCTAssertTrue(b.err.contains("1 batches of records after it lost"), b.err)
        XCTAssertEqual(try samples(bombed)["stat"]?["time"]?.series?.count, 40)
        print(String(format: "parse peak RSS: %.0f MB with a 1 GiB bomb and a lying one, %.0f MB without", b.peakMB, a.peakMB))
        // At most what the bound lets one batch cost (decoded, and the copy a reader keeps).
        XCTAssertLessThan(b.peakMB, a.peakMB + Double(2 * RawLogFormat.maxBatch >> 20),
                          "peak RSS \(b.peakMB) MB with the bombs, \(a.peakMB) MB without")
    }

    /// lock_stat's snapshots are compressed one by one (kinds 4, 5): a snapshot claiming 2^60
    /// bytes is refused, the difference made against it is lost, every other snapshot parses.
    func testACompressedSnapshotClaiming2To60BytesIsRefused() throws {
        let dir = temporaryDirectory()
        try Self.testDirectory(dir, modules: ["lock_stat"])
        let writer = try RawLogWriter(path: dir + "/samples/lock_stat.log")
        Self.header(writer, module: "lock_stat")
        let head = "lock_stat version 0.4\n" + String(repeating: "-", count: 221) + "\n" +
            "                              class name    con-bounces    contentions   waittime-min   waittime-max waittime-total   waittime-avg    acq-bounces   acquisitions   holdtime-min   holdtime-max holdtime-total   holdtime-avg\n" +
            String(repeating: "-", count: 221) + "\n\n"
        let zstd = Zstd()
        var previous = [UInt8]()
        func snapshot(_ i: Int, delta: Bool) {
            let text = Array((head + "lockA: 1 \(10 * i) 0.50 9.00 \(100 * i).00 1.00 2 \(1000 * i) 0.10 5.00 100.00 0.50\n").utf8)
            let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: Zstd.bound(text.count), alignment: 8)
            defer { frame.deallocate() }
            let n = text.withUnsafeBytes { t in previous.withUnsafeBytes { zstd.compress(t, prefix: delta ? $0 : nil, into: frame) } }
            writer.append(kind: delta ? .compressedDelta : .compressedSnapshot, tick: UInt64(i), time: UInt64(i) * 100_000_000,
                          payload: UnsafeRawBufferPointer(rebasing: frame[0..<n]))
            previous = text
        }
        snapshot(1, delta: false)
        snapshot(2, delta: true)
        Self.claims2To60.withUnsafeBytes { writer.append(kind: .compressedSnapshot, tick: 3, time: 300_000_000, payload: $0) }
        snapshot(4, delta: true)    // made against a snapshot the log does not have as written: lost
        snapshot(5, delta: false)
        snapshot(6, delta: true)
        let parse = try Lockstat.tool(["parse", dir])
        XCTAssertEqual(parse.status, 0, parse.err)
        let lines = parse.err.split(separator: "\n")
        XCTAssertEqual(lines.count, 1, parse.err)
        XCTAssertTrue(lines.first?.hasPrefix("lockstat: warning: \(dir)/samples/lock_stat.log: refused 1 compressed record at byte ") ?? false, parse.err)
        XCTAssertTrue(parse.err.contains(", 1 compressed snapshots after it lost up to the next standalone frame"), parse.err)
        XCTAssertEqual(try samples(dir)["lock_stat"]?["time"]?.series, [0.1, 0.2, 0.5, 0.6])
        let export = try Lockstat.tool(["export", dir, "--format", "openmetrics", "--output", "-"])
        XCTAssertEqual(export.status, 0, export.err)
    }

    /// The writer never makes a batch the reader would refuse: a second's records past the
    /// bound are cut into batches between records, a record past it alone is written as it is.
    func testTheWriterCutsBatchesWithinTheBound() throws {
        let dir = temporaryDirectory()
        let writer = try RawLogWriter(path: dir + "/m.log")
        Self.header(writer, module: "m")
        writer.startBatching(period: 3600)
        let record = [UInt8](repeating: 0x41, count: 3 << 20)
        for i in 0..<12 { record.withUnsafeBytes { writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i), payload: $0) } }
        let large = [UInt8](repeating: 0x42, count: RawLogFormat.maxBatch + 1)
        large.withUnsafeBytes { writer.append(kind: .snapshot, tick: 12, time: 12, payload: $0) }
        writer.finish()
        let log = try RawLog.read(path: dir + "/m.log")
        XCTAssertNil(log.damageReport)
        XCTAssertEqual(log.snapshots().count, 13)
        XCTAssertGreaterThanOrEqual(log.batches.count, 3, "36 MiB of records in batches of at most 16 MiB")
        XCTAssertEqual(log.records.filter { $0.kind == .snapshot && $0.batch < 0 }.map(\.tick), [12], "the record past the bound, as it is")
        XCTAssertEqual(log.payloadBytes(log.snapshots()[12]).count, large.count)
    }

    // MARK: Logs that cannot be read

    /// stat.log made unreadable in each way after a good parse: parse says which log and why in
    /// one line, keeps the earlier stat data in samples.pickle and samples.json, re-parses
    /// diskstats, exits 1; export names the log and exits 1. Nothing blocks or is followed.
    func testAnUnreadableLogIsSaidKeepsTheEarlierDataAndExits1() throws {
        let cases: [(name: String, reason: String, make: (String) throws -> Void)] = [
            ("missing", "no such file", { try FileManager.default.removeItem(atPath: $0) }),
            ("fifo", "not a regular file", { path in
                try FileManager.default.removeItem(atPath: path)
                XCTAssertEqual(mkfifo(path, 0o600), 0)
            }),
            ("symlink", "a symlink (refused: never followed)", { path in
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.createSymbolicLink(atPath: path, withDestinationPath: "/dev/zero")
            }),
            ("directory", "not a regular file", { path in
                try FileManager.default.removeItem(atPath: path)
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
            }),
            ("unreadable", "needs root (permission denied)", { path in
                // As root, parse runs as the directory's owner (nobody here): a file of root's 0600 it cannot read.
                XCTAssertEqual(chmod(path, 0o000), 0)
                if geteuid() == 0 { XCTAssertEqual(chown(path, 0, 0), 0) }
            }),
        ]
        for c in cases {
            let dir = temporaryDirectory(c.name)
            try Self.testDirectory(dir, modules: ["stat", "diskstats"])
            for (module, file) in [("stat", "/proc/stat"), ("diskstats", "/proc/diskstats")] {
                guard case .success(let text) = FileReader.readText(file) else { throw XCTSkip("SKIPPED: no \(file)") }
                let writer = try RawLogWriter(path: dir + "/samples/\(module).log")
                Self.header(writer, module: module)
                for i in 0..<5 { writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i) * 100_000_000, text: text) }
            }
            if geteuid() == 0 { XCTAssertEqual(try shell(["chown", "-R", "65534:65534", dir]).status, 0) }
            let first = try Lockstat.tool(["parse", dir])
            XCTAssertEqual(first.status, 0, "\(c.name): \(first.err)")
            let earlier = try samples(dir)
            XCTAssertEqual(earlier["stat"]?["time"]?.series?.count, 5, c.name)
            let earlierJSON = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/samples.json"))) as? [String: Any]

            let log = dir + "/samples/stat.log"
            try c.make(log)
            // What the case made belongs to the directory's owner, but for the unreadable file.
            if geteuid() == 0 && c.name != "unreadable" { _ = lchown(log, 65534, 65534) }
            let parse = try Lockstat.tool(["parse", dir])
            XCTAssertEqual(parse.status, 1, "\(c.name): \(parse.err)")
            XCTAssertEqual(parse.err, "lockstat: \(log): cannot read raw samples: \(c.reason)" + (c.reason.hasPrefix("not a") ? " (refused: reading it could block)" : "")
                           + "; samples.pickle keeps its earlier stat data\n", c.name)
            let now = try samples(dir)
            XCTAssertEqual(now["stat"], earlier["stat"], "\(c.name): the earlier stat data, kept")
            XCTAssertEqual(now["diskstats"]?["time"]?.series?.count, 5, c.name)
            let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/samples.json"))) as? [String: Any]
            XCTAssertEqual((json?["stat"] as? [String: Any])?["time"] as? [Double], (earlierJSON?["stat"] as? [String: Any])?["time"] as? [Double], c.name)

            let export = try Lockstat.tool(["export", dir, "--format", "openmetrics", "--output", "-"])
            XCTAssertEqual(export.status, 1, "\(c.name): \(export.err)")
            XCTAssertTrue(export.err.hasPrefix("lockstat: \(log): cannot read raw samples: \(c.reason)"), "\(c.name): \(export.err)")
            XCTAssertEqual(export.err.split(separator: "\n").count, 1, "\(c.name): \(export.err)")
        }
    }

    /// A module the run skipped has no log: parse gives it None without a word, as before.
    func testAModuleTheRunSkippedHasNoLogAndNeedsNone() throws {
        let dir = temporaryDirectory()
        try Self.testDirectory(dir, modules: ["stat", "lock_stat"])
        guard case .success(let text) = FileReader.readText("/proc/stat") else { throw XCTSkip("SKIPPED: no /proc/stat") }
        let writer = try RawLogWriter(path: dir + "/samples/stat.log")
        Self.header(writer, module: "stat")
        for i in 0..<3 { writer.append(kind: .snapshot, tick: UInt64(i), time: UInt64(i) * 100_000_000, text: text) }
        try #"{"skipped": [{"module": "lock_stat", "reason": "kernel built without CONFIG_LOCK_STAT"}]}"#
            .write(toFile: dir + "/run.json", atomically: false, encoding: .utf8)
        let parse = try Lockstat.tool(["parse", dir])
        XCTAssertEqual(parse.status, 0, parse.err)
        XCTAssertEqual(parse.err, "")
        XCTAssertEqual(try samples(dir)["lock_stat"], PyValue.none)
    }
}
