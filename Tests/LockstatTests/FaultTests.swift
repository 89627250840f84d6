import Foundation
import Glibc
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Faults and bad input (docs/bad-input.md): no crash, no silent loss, one clear line and the
/// right exit status.
final class FaultTests: XCTestCase {
    /// Valid checksums, impossible contents: a last snapshot timed before the first; a perf
    /// record whose call chain claims 2^63 entries; a tracepoint field offset of 2^63 − 1.
    func testImpossibleContentsAreSkippedNotTrapped() throws {
        let dir = temporaryDirectory()
        XCTAssertEqual(try Lockstat.run(["--modules", "stat", "--interval", "0.05", dir + "/run", "sleep", "0.3"]).status, 0)
        let path = dir + "/run/samples/stat.log"
        let log = try RawLog.read(path: path)
        let snaps = log.snapshots()
        let writer = try RawLogWriter(path: path)
        log.payloadBytes(snaps[0]).withUnsafeBytes { _ in }
        writer.append(kind: .snapshot, stream: 0, tick: 99, time: log.startTime &- 5_000_000_000, payload: log.payloadBytes(snaps.last!))
        writer.append(kind: .snapshot, stream: 0, tick: 100, time: UInt64.max, payload: log.payloadBytes(snaps.last!))
        XCTAssertEqual(try Lockstat.tool(["parse", dir + "/run"]).status, 0)
        let graph = try Lockstat.tool(["graph", dir + "/run"])
        XCTAssertEqual(graph.status, 0, graph.err)

        var record = [UInt8](repeating: 0, count: 64)
        record.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(1) << 63, toByteOffset: 24, as: UInt64.self) }
        let layout = TracepointLayout(beginID: 1, endID: 2)
        XCTAssertNil(record.withUnsafeBytes { PerfRecordReader.sample($0, layout: layout, hasCallchain: true) })
        XCTAssertNil(TracepointLayout.offset(String(Int.max)))
        var sample = [UInt8](repeating: 0, count: 64)
        sample.withUnsafeMutableBytes { $0.storeBytes(of: UInt64.max, toByteOffset: 40, as: UInt64.self) }
        XCTAssertNil(sample.withUnsafeBytes { ProfileRecordReader.decodeSample($0) })
    }

    func testIntervalsWhoseNanosecondsDoNotFitAreUsageErrors() throws {
        let dir = temporaryDirectory()
        for value in ["1e300", "1e19"] {
            let r = try Lockstat.run(["--interval", value, dir + "/run", "touch", dir + "/ran"])
            XCTAssertEqual(r.status, 2, r.err)
            XCTAssertTrue(r.err.hasPrefix("lockstat: --interval: must be from 1e-06 to 86400 seconds, got"), r.err)
        }
        try "modules stat\nintervall 1e300\n".write(toFile: dir + "/c.config", atomically: false, encoding: .utf8)
        let config = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "touch", dir + "/ran"])
        XCTAssertEqual(config.status, 2)
        XCTAssertEqual(config.err, "lockstat: \(dir)/c.config:2: key 'intervall' must be from 1e-06 to 86400 seconds, got 1e300\n")
        try "modules stat\nsamprate 1e-300\n".write(toFile: dir + "/c.config", atomically: false, encoding: .utf8)
        XCTAssertEqual(try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"]).status, 2)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"))
    }

    /// A drop-in whose interpreter exits mid-run is a failed module, not the end of lockstat.
    func testADropInWhosePythonExitsIsReportedAsFailed() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/mods", withIntermediateDirectories: false)
        try "import os\ndef sample(test_dir, t):\n    if t == 2:\n        os._exit(0)\n".write(toFile: dir + "/mods/quits.py", atomically: false, encoding: .utf8)
        try "modules stat quits\nmodule_path mods\nintervall 0.05\n".write(toFile: dir + "/c.config", atomically: false, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sleep", "0.6"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("module quits: sample (tick 2) failed:\npython3 ended"), r.err)
        XCTAssertTrue(r.err.contains("lockstat: 0.6") || r.err.contains("program exit status 0"), "the summary is printed: \(r.err)")
        XCTAssertNotNil(try Lockstat.samples(dir + "/run")["stat"]?["time"])
    }

    /// A full disk (a 2 MiB tmpfs): appending stops cleanly at the last whole record, the run
    /// says so and exits 125, and once there is room `parse` recovers every record.
    func testAFullDiskEndsTheRunWith125AndKeepsEveryWholeRecord() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: mounting a tmpfs needs root") }
        let mount = temporaryDirectory() + "/small"
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: false)
        XCTAssertEqual(try shell(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount]).status, 0)
        defer { _ = try? shell(["umount", "-l", mount]) }
        // The disk fills 1.5 s in: the first second's batch is written, a later one is not.
        let r = try Lockstat.run(["--modules", "stat,diskstats", "--interval", "0.01", mount + "/run", "sh", "-c",
                                  "sleep 1.5; dd if=/dev/zero of=\(mount)/fill bs=64k 2>/dev/null; sleep 1.5; exit 3"])
        XCTAssertEqual(r.status, 125, r.err)
        XCTAssertTrue(r.err.contains("lockstat: recording failed: stat: "), r.err)
        XCTAssertTrue(r.err.contains("No space left on device"), r.err)
        XCTAssertTrue(r.err.hasSuffix("lockstat: the program exited with status 3; lockstat exits 125 because the recording is incomplete\n"), r.err)
        try FileManager.default.removeItem(atPath: mount + "/fill")
        for module in ["stat", "diskstats"] {
            let log = try RawLog.read(path: mount + "/run/samples/\(module).log")
            XCTAssertEqual(log.droppedBytes, 0, "\(module): ends with its last whole record")
            XCTAssertTrue(log.damaged.isEmpty)
            XCTAssertGreaterThanOrEqual(log.snapshots().count, 50, "\(module): the batches written before the disk filled")
        }
        let parse = try Lockstat.tool(["parse", mount + "/run"])
        XCTAssertEqual(parse.status, 0, parse.err)
    }

    /// SIGTERM or SIGINT while presampling (a drop-in that takes 2 s) cancels the run: the
    /// program never starts, postsampling still runs, the status is 128 + the signal.
    func testASignalBeforeTheProgramStartsCancelsTheRun() throws {
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/mods", withIntermediateDirectories: false)
        let module = "import time\ndef presampling(test_dir):\n    open(test_dir + '/../presampling', 'a').close()\n"
            + "    time.sleep(2)\ndef postsampling(test_dir):\n    open(test_dir + '/../post', 'a').write('x')\n"
        try module.write(toFile: dir + "/mods/slow.py", atomically: false, encoding: .utf8)
        try "modules stat slow\nmodule_path mods\n".write(toFile: dir + "/c.config", atomically: false, encoding: .utf8)
        for (signal, status) in [(SIGTERM, Int32(143)), (SIGINT, Int32(130))] {
            try? FileManager.default.removeItem(atPath: dir + "/ran")
            try? FileManager.default.removeItem(atPath: dir + "/presampling")
            let p = try Lockstat.start(["--config", dir + "/c.config", dir + "/run", "touch", dir + "/ran"])
            XCTAssertTrue(eventually(30) { FileManager.default.fileExists(atPath: dir + "/presampling") }, "presampling started")
            kill(p.processIdentifier, signal)
            p.waitUntilExit()
            XCTAssertEqual(p.terminationStatus, status)
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"), "the program did not run")
        }
        XCTAssertEqual(try String(contentsOfFile: dir + "/post", encoding: .utf8), "xx", "postsampling ran both times")
    }

    /// A FIFO planted where a replayed /proc file should be is refused, never read.
    func testAFifoInAReplayedTreeIsRefused() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        XCTAssertEqual(mkfifo(root + "/proc/stat", 0o644), 0)
        let started = Date()
        let r = try Lockstat.run(["--modules", "stat", "--proc-root", root, root + "/run", "true"])
        XCTAssertLessThan(Date().timeIntervalSince(started), 20)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "lockstat: warning: module stat skipped: \(root)/proc/stat: not a regular file (refused: reading it could block)\n")
    }

    /// --tee: lockstat returns when the program exits; a daemon it left behind keeps writing to
    /// DIR/output and the terminal, and is not killed by SIGPIPE.
    func testTeeKeepsADaemonsOutputAfterLockstatReturns() throws {
        let dir = temporaryDirectory()
        // The terminal is a file here: a pipe read to its end would wait for the daemon too.
        FileManager.default.createFile(atPath: dir + "/terminal", contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat-run")
        p.arguments = ["--quiet", "--tee", "--modules", "stat", dir + "/run", "sh", "-c",
                       "(sleep 1.5; echo late; touch \(dir)/daemon-done) & echo early"]
        p.standardOutput = FileHandle(forWritingAtPath: dir + "/terminal")
        let started = Date()
        try p.run()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        XCTAssertLessThan(Date().timeIntervalSince(started), 1.4, "returned before the daemon wrote")
        XCTAssertTrue(eventually(6) { FileManager.default.fileExists(atPath: dir + "/daemon-done") }, "the daemon lived on")
        // The copier writes the daemon's line a moment after the daemon printed it.
        func copied(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }
        _ = eventually(10) { copied(dir + "/run/output") == "early\nlate\n" && copied(dir + "/terminal") == "early\nlate\n" }
        XCTAssertEqual(try String(contentsOfFile: dir + "/run/output", encoding: .utf8), "early\nlate\n")
        XCTAssertEqual(try String(contentsOfFile: dir + "/terminal", encoding: .utf8), "early\nlate\n")
    }

    /// kill -9 of lockstat stops the program too (PR_SET_PDEATHSIG).
    func testKillNineOfLockstatStopsTheProgram() throws {
        let dir = temporaryDirectory()
        let p = try Lockstat.start(["--modules", "stat", dir + "/run", "sh", "-c", "echo $$ > \(dir)/pid; exec sleep 30"])
        func written() -> Int32? {
            (try? String(contentsOfFile: dir + "/pid", encoding: .utf8)).flatMap { Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        }
        _ = eventually(5) { written() != nil }
        let pid = try XCTUnwrap(written())
        XCTAssertEqual(kill(pid, 0), 0, "the program runs")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        let gone = eventually(5) {
            var st = stat()
            // Gone, or a zombie waiting for its new parent to reap it.
            let state = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.split(separator: " ")[2]
            return stat("/proc/\(pid)", &st) != 0 || state == "Z"
        }
        XCTAssertTrue(gone, "the program was stopped with lockstat")
    }

    func testAConfigWithoutModulesSamplesTheDefaultsAndSaysSo() throws {
        let dir = temporaryDirectory()
        try "intervall 0.1\n".write(toFile: dir + "/c.config", atomically: false, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sleep", "0.3"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.err.hasPrefix("lockstat: warning: \(dir)/c.config: no `modules` line: sampling `modules auto`\n"), r.err)
        let samples = try Lockstat.samples(dir + "/run")
        XCTAssertNotEqual(samples["stat"], PyValue.none)
        XCTAssertNotEqual(samples["diskstats"], PyValue.none)
    }
}
