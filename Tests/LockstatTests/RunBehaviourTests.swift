import Foundation
import XCTest
@testable import LockstatCore

/// The run's contract: files, exit statuses, signals, bad input, recovery.
final class RunBehaviourTests: XCTestCase {
    func testDirectoryLayoutAndOutputCapture() throws {
        let dir = temporaryDirectory() + "/nested/run"
        let r = try Lockstat.run([dir, "sh", "-c", "echo out; echo err >&2; echo 'it''s'"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try String(contentsOfFile: dir + "/output", encoding: .utf8), "out\nerr\nits\n")
        XCTAssertEqual(try String(contentsOfFile: dir + "/cmd", encoding: .utf8), "sh -c 'echo out; echo err >&2; echo '\\''it'\\'''\\''s'\\'''\n")
        let config = try String(contentsOfFile: dir + "/lockstat.config", encoding: .utf8)
        XCTAssertTrue(config.contains("modules stat diskstats\n") && config.contains("intervall 0.1\n"))
        for f in ["samples/stat.log", "samples/diskstats.log", "samples.pickle", "samples.json", "stat_cpu_all.svg", "stat_cpu_cpu0.svg", "stat_ctxt_intr.svg"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/" + f), f)
        }
        // The cmd file pastes back into a shell as the same command.
        XCTAssertEqual(try shell(["sh", "-c", "eval \"$(cat \(dir)/cmd)\""]).out, "out\nits\n")
    }

    func testTeeCopiesOutputToTheTerminalToo() throws {
        let dir = temporaryDirectory()
        let r = try Lockstat.run(["--tee", dir, "sh", "-c", "echo hello"])
        XCTAssertEqual(r.out, "hello\n")
        XCTAssertEqual(try String(contentsOfFile: dir + "/output", encoding: .utf8), "hello\n")
    }

    func testExitStatusIsTheProgramsOwn() throws {
        XCTAssertEqual(try Lockstat.run([temporaryDirectory(), "sh", "-c", "exit 7"]).status, 7)
        XCTAssertEqual(try Lockstat.run([temporaryDirectory(), "sh", "-c", "kill -KILL $$"]).status, 128 + 9)
        XCTAssertEqual(try Lockstat.tool(["run", "--quiet", temporaryDirectory(), "false"]).status, 1)
    }

    func testMissingProgramIs127AndNothingIsSampled() throws {
        let dir = temporaryDirectory() + "/never"
        let r = try Lockstat.run([dir, "no-such-program-xyz", "arg"])
        XCTAssertEqual(r.status, 127)
        XCTAssertEqual(r.err, "lockstat: no-such-program-xyz: command not found\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
        let text = temporaryDirectory() + "/text"
        FileManager.default.createFile(atPath: text, contents: Data("hello\n".utf8), attributes: [.posixPermissions: 0o644])
        XCTAssertEqual(try Lockstat.run([dir, text]).status, 127, "not executable")
        FileManager.default.createFile(atPath: text, contents: Data("hello\n".utf8), attributes: [.posixPermissions: 0o755])
        let r2 = try Lockstat.run([dir, text])
        XCTAssertEqual(r2.status, 127, "executable bits but no format the kernel can run")
        XCTAssertTrue(r2.err.hasPrefix("lockstat: \(text): command not found ("), r2.err)
    }

    func testUsageAndConfigErrorsExitTwoNamingTheCulprit() throws {
        let dir = temporaryDirectory()
        let config = dir + "/bad.config"
        try "modules stat\n# fine\nintervall 0\n".write(toFile: config, atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", config, dir + "/run", "true"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.err, "lockstat: \(config):3: key 'intervall' must be greater than 0, got 0\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
        let env = try shell(["env", "LOCKSTAT_CONFIG=\(config)", Lockstat.binaries + "/lockstat-run", dir + "/run", "true"])
        XCTAssertEqual(env.status, 2)
        XCTAssertTrue(env.err.contains("\(config):3:"))
        let modules = try Lockstat.run(["--modules", "stat,diskstat", dir + "/run", "true"])
        XCTAssertEqual(modules.status, 2)
        XCTAssertEqual(modules.err, "lockstat: --modules: unknown module 'diskstat' (did you mean 'diskstats'?)\n")
        XCTAssertEqual(try Lockstat.run(["--interval", "-1", dir + "/run", "true"]).status, 2)
        XCTAssertEqual(try Lockstat.run([dir + "/run"]).status, 2, "missing PROGRAM")
        let late = try Lockstat.run([dir + "/run", "--modules", "stat", "true"])
        XCTAssertEqual(late.status, 2)
        XCTAssertEqual(
            late.err, "lockstat: --modules goes before the test directory: options, then DIRECTORY PROGRAM [ARGS...]\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
        XCTAssertEqual(try Lockstat.tool(["frobnicate"]).status, 2)
    }

    func testDirectoryThatIsAFileIsRefusedBeforeAnythingRuns() throws {
        let dir = temporaryDirectory()
        let file = dir + "/a-file"
        FileManager.default.createFile(atPath: file, contents: Data("x".utf8))
        let r = try Lockstat.run([file, "touch", dir + "/ran"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertEqual(r.err, "lockstat: \(file): exists and is not a directory\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/ran"))
        XCTAssertNotEqual(try Lockstat.run([file + "/sub", "true"]).status, 0)
    }

    func testADirectoryAnotherLockstatIsWritingIsRefused() throws {
        let base = temporaryDirectory(), dir = base + "/run"
        // The first run's program says it started, then waits for the test to let it end.
        let first = try Lockstat.start([dir, "sh", "-c",
                                        "touch \(base)/started; until [ -e \(base)/go ]; do sleep 0.05; done"])
        defer {
            FileManager.default.createFile(atPath: base + "/go", contents: nil)
            first.waitUntilExit()
        }
        XCTAssertTrue(eventually(30) { FileManager.default.fileExists(atPath: base + "/started") }, "the first run started")
        let second = try Lockstat.run([dir, "true"])
        XCTAssertEqual(second.status, 1)
        XCTAssertEqual(second.err, "lockstat: \(dir): another lockstat is writing this directory right now\n")
        FileManager.default.createFile(atPath: base + "/go", contents: nil)
        first.waitUntilExit()
        XCTAssertEqual(first.terminationStatus, 0)
        XCTAssertEqual(try Lockstat.run([dir, "true"]).status, 0, "free again afterwards")
    }

    func testARerunReplacesTheEarlierRunsFilesAndNothingElse() throws {
        let dir = temporaryDirectory()
        XCTAssertEqual(try Lockstat.run([dir, "dd", "if=/dev/zero", "of=\(dir)/dd.bin", "bs=1M", "count=8", "oflag=direct"]).status, 0)
        let disk = try Kernel.disk(holding: dir)
        XCTAssertTrue(FileManager.default.fileExists(atPath: "\(dir)/diskstats_\(disk)_iops.svg"))
        try "mine".write(toFile: dir + "/notes.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Lockstat.run(["--modules", "stat", dir, "true"]).status, 0)
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/diskstats_\(disk)_iops.svg"), "the earlier run's graph is gone")
        XCTAssertFalse(FileManager.default.fileExists(atPath: "\(dir)/samples/diskstats.log"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/notes.txt"))
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/dd.bin"), "the program's own files are not ours to remove")
        XCTAssertEqual(try Lockstat.samples(dir).keys, ["_lockstat_format", "stat"])
    }

    /// SIGINT to lockstat goes to the program; the run then finishes normally, parse and plot included.
    func testInterruptIsForwardedAndTheRunFinishes() throws {
        let dir = temporaryDirectory()
        let p = try Lockstat.start([dir, "sleep", "30"])
        XCTAssertTrue(eventually(30) { snapshotsWritten(dir + "/samples/stat.log") >= 5 }, "five samples taken")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 128 + SIGINT)
        let stat = try Lockstat.samples(dir)["stat"]!
        XCTAssertGreaterThanOrEqual(stat["time"]!.series!.count, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/stat_cpu_all.svg"))
    }

    /// kill -9 mid-run, plus a torn record at the end: `lockstat parse` recovers every whole sample.
    func testKillNineThenParseRecoversEveryWholeSample() throws {
        let base = temporaryDirectory(), dir = base + "/run"
        let p = try Lockstat.start([dir, "sh", "-c", "echo $$ > \(base)/pid; exec sleep 30"])
        XCTAssertTrue(eventually(30) { snapshotsWritten(dir + "/samples/stat.log") >= 10 }, "ten samples taken")
        kill(p.processIdentifier, SIGKILL)
        p.waitUntilExit()
        // The program, in case PR_SET_PDEATHSIG has not ended it yet.
        let written = try? String(contentsOfFile: base + "/pid", encoding: .utf8)
        if let pid = written.flatMap({ Int32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) { kill(pid, SIGKILL) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/samples.pickle"))
        let whole = try RawLog.read(path: dir + "/samples/stat.log").snapshots().count
        // A record torn by the kill: header and half a payload.
        let torn = FileHandle(forWritingAtPath: dir + "/samples/stat.log")!
        torn.seekToEndOfFile()
        torn.write(Data([0x4C, 0x4B, 0x53, 0x52, 0x00, 0x10, 0x00, 0x00]) + Data(repeating: 0x41, count: 100))
        torn.closeFile()
        let r = try Lockstat.tool(["parse", dir])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("stat.log: dropped 108 bytes"), r.err)
        XCTAssertEqual(try Lockstat.samples(dir)["stat"]!["time"]!.series!.count, whole)
        XCTAssertEqual(try Lockstat.tool(["graph", dir]).status, 0)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/stat_cpu_all.svg"))
    }

    /// parse and graph need only the directory: they work on a copy elsewhere and give the same data.
    func testParseAndGraphOnACopiedDirectory() throws {
        let dir = temporaryDirectory()
        XCTAssertEqual(try Lockstat.run([dir, "sleep", "0.4"]).status, 0)
        let original = try Lockstat.samples(dir)
        let copy = temporaryDirectory() + "/copy"
        XCTAssertEqual(try shell(["cp", "-r", dir, copy]).status, 0)
        try FileManager.default.removeItem(atPath: copy + "/samples.pickle")
        try FileManager.default.removeItem(atPath: copy + "/stat_cpu_all.svg")
        XCTAssertEqual(try Lockstat.tool(["parse", copy]).status, 0)
        XCTAssertEqual(try Lockstat.samples(copy), original)
        let g = try Lockstat.tool(["graph", copy])
        XCTAssertEqual(g.status, 0, g.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: copy + "/stat_cpu_all.svg"))
        XCTAssertNotEqual(try Lockstat.tool(["parse", temporaryDirectory()]).status, 0, "not a test directory")
    }

    /// --proc-root replays a captured tree; a module whose file is missing is skipped with one line why.
    func testProcRootReplayAndMissingFiles() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        try Data(try Fixtures.bytes("stat/procfs-8cpu-10col.txt")).write(to: URL(fileURLWithPath: root + "/proc/stat"))
        let dir = root + "/run"
        let r = try Lockstat.run(["--proc-root", root, dir, "sleep", "0.3"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.err, "lockstat: warning: module diskstats skipped: \(root)/proc/diskstats: no such file\n")
        let stat = try Lockstat.samples(dir)["stat"]!
        XCTAssertEqual(stat["n_cpu"], .int(8))
        XCTAssertEqual(stat["cpu"]!["cpu7"]!["idle"]!.series![1], 100, "an unchanging file: no ticks, 100 % idle as mpstat shows")
        let modules = try Lockstat.tool(["modules", "--proc-root", root])
        XCTAssertTrue(modules.out.contains("diskstats  unavailable: \(root)/proc/diskstats: no such file"), modules.out)
        XCTAssertTrue(modules.out.contains("stat       available"))
    }

    func testSummaryNamesSamplesMissedTicksAndStatus() throws {
        let dir = temporaryDirectory()
        let r = try Lockstat.run([dir, "sh", "-c", "sleep 0.3; exit 3"], quiet: false)
        XCTAssertEqual(r.status, 3)
        XCTAssertTrue(r.err.contains("program exit status 3"), r.err)
        XCTAssertTrue(r.err.contains("stat: ") && r.err.contains("missed ticks"), r.err)
        XCTAssertFalse(r.err.contains("\r"), "no progress line when stderr is not a terminal")
    }
}

final class ProgressLineTests: XCTestCase {
    /// On a terminal (a pty from script(1)), one live line on stderr: elapsed, samples, missed.
    func testLiveProgressLineOnATerminal() throws {
        let dir = temporaryDirectory()
        let r = try shell(["script", "-qfec", "\(Lockstat.binaries)/lockstat-run \(dir) sleep 1.2", "/dev/null"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("\r\u{1B}[Klockstat: "), r.out)
        XCTAssertTrue(r.out.contains(" samples, 0 missed ticks") || r.out.contains(" missed ticks"), r.out)
        XCTAssertTrue(r.out.contains("program exit status 0"), "the summary follows")
        let quiet = try shell(["script", "-qfec", "\(Lockstat.binaries)/lockstat-run --quiet \(dir) sleep 0.6", "/dev/null"])
        XCTAssertFalse(quiet.out.contains("lockstat: "), quiet.out)
    }
}

/// run.json, and report's --sort across tables.
final class RunMetadataTests: XCTestCase {
    func testRunJsonSaysWhatRanAndWhere() throws {
        let dir = temporaryDirectory()
        try "modules stat lock_stat\nintervall 0.1\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sh", "-c", "sleep 0.3; exit 3"])
        XCTAssertEqual(r.status, 3)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/run/run.json"))) as! [String: Any]
        XCTAssertEqual(json["command"] as? [String], ["sh", "-c", "sleep 0.3; exit 3"])
        XCTAssertEqual(json["exit_status"] as? Int, 3)
        XCTAssertGreaterThan(json["seconds"] as? Double ?? 0, 0.25)
        XCTAssertEqual(json["cpus"] as? Int, ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertFalse((json["kernel_release"] as? String ?? "").isEmpty)
        XCTAssertTrue((json["config"] as? String ?? "").contains("modules stat lock_stat"))
        let modules = json["modules"] as? [[String: Any]] ?? []
        XCTAssertEqual(modules.map { $0["name"] as? String }, ["stat"])
        XCTAssertGreaterThan(modules.first?["samples"] as? Int ?? 0, 1)
        XCTAssertEqual(modules.first?["interval_s"] as? Double, 0.1)
        if FileReader.check("/proc/lock_stat") == .missing {
            let skipped = json["skipped"] as? [[String: Any]] ?? []
            XCTAssertEqual(skipped.first?["module"] as? String, "lock_stat")
            XCTAssertTrue((skipped.first?["reason"] as? String ?? "").contains("CONFIG_LOCK_STAT"))
            XCTAssertTrue((json["warnings"] as? [String] ?? []).contains { $0.hasPrefix("module lock_stat skipped") })
        }
        XCTAssertTrue(try String(contentsOfFile: dir + "/run/.lockstat-files", encoding: .utf8).contains("run.json"))
        XCTAssertEqual(try Lockstat.samples(dir + "/run")["_lockstat_format"]?.number, 2)
    }

    /// One --sort for a run with lock_stat and contention: each table takes the key it has; one
    /// that no table has lists each table's keys.
    func testSortAcrossLockStatAndContentionTables() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc/sys/kernel", withIntermediateDirectories: true)
        try Data(try Fixtures.bytes("lock_stat/vm-6.1-workload.txt")).write(to: URL(fileURLWithPath: root + "/proc/lock_stat"))
        try "0\n".write(toFile: root + "/proc/sys/kernel/lock_stat", atomically: false, encoding: .utf8)
        XCTAssertEqual(try Lockstat.run(["--modules", "lock_stat", "--proc-root", root, root + "/a", "sleep", "1.2"]).status, 0)
        let contention = try Pickle.encode(.stringDict([("contention", .stringDict([
            ("callers", .list([.stringDict([("caller", .string("do_work+0x10")), ("type", .string("spinlock")), ("contended", .int(5)),
                                            ("total_wait_ns", .int(500)), ("max_wait_ns", .int(200)), ("min_wait_ns", .int(50)),
                                            ("avg_wait_ns", .int(100))])]))]))]))
        let both = try Lockstat.samples(root + "/a")
        guard case .dict(var items) = both, case .dict(let extra) = try Unpickler.decode(contention) else { return XCTFail() }
        items += extra
        try FileManager.default.createDirectory(atPath: root + "/both", withIntermediateDirectories: true)
        try Data(Pickle.encode(.dict(items))).write(to: URL(fileURLWithPath: root + "/both/samples.pickle"))
        for key in ["contentions", "contended", "wait-total", "wait_total"] {
            let r = try Lockstat.tool(["report", root + "/both", "--sort", key])
            XCTAssertEqual(r.status, 0, "\(key): \(r.err)")
            XCTAssertTrue(r.out.contains("do_work+0x10") && r.out.contains("class"), r.out)
        }
        let bad = try Lockstat.tool(["report", root + "/both", "--sort", "bogus"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertTrue(bad.err.hasPrefix("lockstat: --sort: unknown key 'bogus'; lock_stat: wait-total, contentions") && bad.err.contains("; contention: wait_total, contended"), bad.err)
    }
}
