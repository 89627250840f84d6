import Foundation
import Glibc
import XCTest
import CLockstat
@testable import LockstatCore
@testable import LockstatModules

/// Config and command-line input at its limits (docs/bad-input.md, docs/config.md): numbers out
/// of range, CRLF files, a module listed twice, running out of descriptors, huge files and
/// lines, and a hundred thousand program arguments.
final class ConfigHardeningTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func parse(_ text: String) throws -> Config { try ConfigParser.parse(text, file: "test.config", catalog: catalog) }

    func error(_ text: String) -> LockstatError? {
        do { _ = try parse(text); return nil } catch { return error as? LockstatError }
    }

    func write(_ text: String, to path: String) throws { try text.write(toFile: path, atomically: false, encoding: .utf8) }

    // MARK: Numbers in range

    /// The value that crashed run: exit 2 naming the line, before DIR is made; the config command
    /// (and serve, which loads the config the same way) says the same.
    func testOutOfRangeEntriesStopRunBeforeDirIsMade() throws {
        let dir = temporaryDirectory(), config = dir + "/c.config"
        try write("modules stat contention\ncontention.entries 2147483648\n", to: config)
        let r = try Lockstat.run(["--config", config, dir + "/run", "true"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertEqual(r.err, "lockstat: \(config):2: key 'contention.entries' must be from 1 to 262144, got 2147483648\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
        let c = try Lockstat.tool(["config", "--config", config])
        XCTAssertEqual(c.status, 2)
        XCTAssertEqual(c.err, r.err)
    }

    /// perf_event_open refuses a frequency above kernel.perf_event_max_sample_rate, which the
    /// kernel lowers at run time: presampling reads it and says which to change.
    func testProfileFrequencyAboveTheKernelsSampleRateIsRefusedByName() throws {
        let root = temporaryDirectory(), dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc/sys/kernel", withIntermediateDirectories: true)
        try write("1000\n", to: root + "/proc/sys/kernel/perf_event_max_sample_rate")
        let config = try parse("modules oprofile\noprofile.frequency 5000\n")
        let context = RecordingContext(system: SystemRoot(root), config: config, directory: TestDirectory(dir),
                                       log: try RawLogWriter(path: dir + "/oprofile.log"))
        XCTAssertThrowsError(try ProfileModule().presampling(context)) { error in
            XCTAssertEqual("\(error)", "oprofile.frequency 5000 Hz is above kernel.perf_event_max_sample_rate (1000 Hz): " +
                                       "lower oprofile.frequency or raise the sysctl")
        }
    }

    /// --repeat and --warmup are bounded like config numbers: 10^14 runs used to be a failed
    /// allocation (a crash) after DIR was made.
    func testRepeatCountOutOfRangeIsAUsageError() throws {
        let dir = temporaryDirectory() + "/set"
        let r = try Lockstat.run(["--repeat", "100000000000000", "--modules", "stat", dir, "true"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertEqual(r.err, "lockstat: --repeat: must be from 1 to 10000, got 100000000000000\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir))
        let w = try Lockstat.run(["--repeat", "2", "--warmup", "100000000000000", "--modules", "stat", dir, "true"])
        XCTAssertEqual(w.err, "lockstat: --warmup: must be from 0 to 10000, got 100000000000000\n")
        XCTAssertEqual(w.status, 2)
    }

    // MARK: CRLF

    func testCRLFConfigRuns() throws {
        let dir = temporaryDirectory(), config = dir + "/c.config"
        try write("modules stat\r\nintervall 0.05\r\n", to: config)
        let r = try Lockstat.run(["--config", config, dir + "/run", "true"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err, "")
    }

    // MARK: A module listed twice

    func testModulesOptionListingAModuleTwiceIsRefused() throws {
        let dir = temporaryDirectory()
        let r = try Lockstat.run(["--modules", "stat,stat", dir + "/run", "true"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.err, "lockstat: --modules: module 'stat' listed twice: a module samples once per run\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
        let alias = try Lockstat.run(["--modules", "oprofile, profile", dir + "/run", "true"])
        XCTAssertEqual(alias.err, "lockstat: --modules: module 'oprofile' listed twice (as 'oprofile' and 'profile'): a module samples once per run\n")
        XCTAssertEqual(alias.status, 2)
    }

    // MARK: Out of descriptors

    /// Whatever descriptor limit lockstat runs under, running out is lockstat's failure (1, one
    /// line naming the limit), never 127, which says the program is missing.
    func testRunningOutOfDescriptorsIsNeverProgramNotFound() throws {
        var namedTheLimit = false
        for limit in 6...24 {
            let dir = temporaryDirectory() + "/run"
            let command = "ulimit -n \(limit) && exec \(Lockstat.binaries)/lockstat-run --quiet --modules stat,diskstats \(dir) echo ran"
            let r = try shell(["sh", "-c", command])
            XCTAssertNotEqual(r.status, 127, "ulimit -n \(limit): \(r.err)")
            if r.status == 0 {
                XCTAssertEqual(try String(contentsOfFile: dir + "/output", encoding: .utf8), "ran\n", "ulimit -n \(limit)")
                continue
            }
            XCTAssertEqual(r.status, 1, "ulimit -n \(limit): \(r.err)")
            let last = r.err.split(separator: "\n").last.map(String.init) ?? ""
            XCTAssertTrue(last.hasPrefix("lockstat: "), "ulimit -n \(limit): \(r.err)")
            if last == "lockstat: echo: cannot start: lockstat has as many files open as its limit allows (ulimit -n: \(limit))" {
                namedTheLimit = true
            }
        }
        XCTAssertTrue(namedTheLimit, "no limit in 6...24 ran out at the program's start")
    }

    // MARK: Huge files and lines

    /// A config file past 1 MiB is refused without being read whole; a line past 64 KiB with its
    /// line number.
    func testHugeConfigFileAndLineAreRefusedWithTheLimit() throws {
        let dir = temporaryDirectory(), big = dir + "/big.config", long = dir + "/long.config"
        try write("modules stat\n" + String(repeating: "a", count: 2 << 20) + "\n", to: big)
        let r = try Lockstat.run(["--config", big, dir + "/run", "true"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.err, "lockstat: \(big): cannot read config: larger than 1048576 bytes (refused)\n")
        try write("modules stat\n" + String(repeating: "b", count: 100_000) + "\nintervall 0.1\n", to: long)
        let l = try Lockstat.run(["--config", long, dir + "/run", "true"])
        XCTAssertEqual(l.status, 2)
        XCTAssertEqual(l.err, "lockstat: \(long):2: line longer than 65536 bytes: refused\n")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
        // Just under both limits: read, and the unknown key still gets its error (no "did you mean").
        let word = String(repeating: "c", count: 65_535)
        XCTAssertEqual(error("modules stat\n\(word)\n")?.message, "test.config:2: unknown key '\(word)'")
    }

    // MARK: Many program arguments

    /// Seconds `lockstat-run` takes for `arguments`, or nil when it was still running at
    /// `deadline` seconds (then it is killed).
    func timedRun(_ arguments: [String], deadline: Double) throws -> (seconds: Double, status: Int32)? {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat-run")
        p.arguments = ["--quiet", "--modules", "stat"] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let start = Date()
        try p.run()
        while p.isRunning {
            if Date().timeIntervalSince(start) > deadline {
                p.terminate()
                p.waitUntilExit()
                return nil
            }
            usleep(10_000)
        }
        return (Date().timeIntervalSince(start), p.terminationStatus)
    }

    /// The head-first parse of run's arguments leaves every other command line as it was: none,
    /// one word, options after a positional, the program's own options, a missing program.
    func testCommandLinesAroundTheProgramParseAsBefore() throws {
        XCTAssertEqual(try Lockstat.tool([]).status, 0, "no arguments: the help")
        XCTAssertEqual(try Lockstat.tool(["modules"]).status, 0)
        XCTAssertEqual(try shell([Lockstat.binaries + "/lockstat-run"]).status, 2)
        let dir = temporaryDirectory()
        let r = try Lockstat.tool(["run", "--quiet", "--modules", "stat", dir + "/a", "echo", "--quiet", "--modules", "x", "--help"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(try String(contentsOfFile: dir + "/a/output", encoding: .utf8), "--quiet --modules x --help\n")
        XCTAssertEqual(try Lockstat.run(["--interval"]).status, 2)
        XCTAssertEqual(try Lockstat.run([dir + "/b"]).status, 2, "missing PROGRAM")
        XCTAssertEqual(try Lockstat.run(["--bogus", dir + "/b", "true"]).status, 2)
    }

    /// A hundred thousand program arguments cost time linear in their number: the run takes a
    /// small multiple of a run with three (it took minutes when capturing them was quadratic),
    /// and DIR/cmd has every one.
    func testAHundredThousandArgumentsStartInLinearTime() throws {
        let few = try (0..<2).map { _ in try timedRun([temporaryDirectory(), "true", "1", "2", "3"], deadline: 600) }
        let baseline = try XCTUnwrap(few.compactMap { $0?.seconds }.max())
        let many = (1...100_000).map(String.init), dir = temporaryDirectory()
        let timed = try timedRun([dir, "true"] + many, deadline: 20 * baseline)
        let run = try XCTUnwrap(timed, "100,000 arguments took more than 20 times the \(baseline) s of three")
        XCTAssertEqual(run.status, 0)
        XCTAssertEqual(try String(contentsOfFile: dir + "/cmd", encoding: .utf8), (["true"] + many).joined(separator: " ") + "\n")
    }
}
