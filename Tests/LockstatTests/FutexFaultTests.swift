import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module on programs that misbehave: one that exits while its threads wait, a
/// stripped binary, a lock word unmapped before the program ends.
final class FutexFaultTests: XCTestCase {
    func compile(_ source: String, _ name: String, in dir: String, flags: [String] = []) throws -> String {
        let exe = dir + "/" + name
        let cc = try shell(["cc", "-O2", "-pthread"] + flags + ["-o", exe, Fixtures.repository.path + "/Tests/futex/" + source])
        XCTAssertEqual(cc.status, 0, cc.err)
        return exe
    }

    func run(_ dir: String, _ command: [String]) throws -> (status: Int32, out: String, err: String) {
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        return try Lockstat.run(["--config", dir + "/f.config", dir + "/run"] + command, quiet: false)
    }

    /// Three threads asleep on a mutex main holds when main calls _exit: the run completes
    /// (status 0, the program's), and each wait is counted as what it was: interrupted by the
    /// exit's kill, with no waker, ≥ 0.5 s asleep, on held_lock named by its symbol from
    /// wait_for_held (the process's map read at a drain while its waits were in progress: it is
    /// gone by the drain that sees them end).
    func testAProgramThatExitsMidWaitCountsItsWaitsAsInterrupted() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = try compile("exit_mid_wait.c", "exit_mid_wait", in: dir)
        let r = try run(dir, [exe, "3"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("  futex: "), r.err)
        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let fields = output.split(whereSeparator: \.isWhitespace)
        XCTAssertEqual(fields.prefix(2), ["asleep", "3"], output)
        let address = try XCTUnwrap(fields.firstIndex(of: "lock").map { String(fields[$0 + 1]) }, output)
        let analysis = try FutexAnalysis(log: RawLog.read(path: dir + "/run/samples/futex.log"))
        let mine = analysis.waits.filter { $0.task.hasPrefix("exit_mid_wait[") }
        let describe = mine.map { "\($0.task) \($0.lock) \(FutexAnalysis.outcomeName($0.wait.outcome)) \($0.wait.count)" }
        let held = mine.filter { $0.wait.uaddr == UInt64(address.dropFirst(2), radix: 16) }
        XCTAssertEqual(held.reduce(0) { $0 + $1.wait.count }, 3, "the three waits, no more: \(describe)")
        XCTAssertEqual(Set(held.map(\.wait.tid)).count, 3, "one per waiter: \(describe)")
        for w in held {
            XCTAssertEqual(w.wait.outcome, LS_FUTEX_INTERRUPTED.rawValue, "\(describe)")
            XCTAssertEqual(w.waker, FutexAnalysis.noWaker)
            XCTAssertGreaterThanOrEqual(w.wait.total, 500_000_000, "asleep ≥ 0.7 s before the exit")
            XCTAssertEqual(w.lock, "held_lock (exit_mid_wait)")
            XCTAssertEqual(w.kind, .mutex)
            XCTAssertEqual(w.waiter, "wait_for_held", "\(w.waiterStack)")
        }
        XCTAssertEqual(analysis.counters[Int(LS_FUTEX_MAP_FULL.rawValue)], 0)
    }

    /// A stripped program: every wait still counted (perf's count of the program's futex wait
    /// calls that slept is lockstat's), its frames [unknown], its lock words offsets in the file,
    /// and one warning naming the file.
    func testAStrippedBinaryStillCountsAndSaysSoOnce() throws {
        try requireFutexModule()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
        let dir = temporaryDirectory()
        let exe = try compile("futex_truth.c", "stripped_truth", in: dir, flags: ["-fno-omit-frame-pointer", "-s"])
        let nm = try shell(["nm", exe])
        XCTAssertTrue(nm.err.contains("no symbols"), "the binary is stripped: \(nm.out.prefix(200))")
        let r = try run(
            dir,
            [
                "perf", "record", "-q", "-e", "syscalls:sys_enter_futex", "-e", "syscalls:sys_exit_futex", "-o",
                dir + "/perf.data", "--", exe, "1", "4",
            ])
        XCTAssertEqual(r.status, 0, r.err)
        let warning = "no symbols in \(exe) (stripped): their frames are [unknown], their lock words offsets"
        XCTAssertEqual(r.err.components(separatedBy: warning).count - 1, 1, "said once: \(r.err)")
        let analysis = try FutexAnalysis(log: RawLog.read(path: dir + "/run/samples/futex.log"))
        let mine = analysis.waits.filter { $0.task.hasPrefix("stripped_truth[") }
        let slept = mine.filter { $0.wait.slept }.reduce(0) { $0 + Int($1.wait.count) }
        let perf = try FutexModuleTests.perfWaits(dir + "/perf.data", comm: "stripped_truth")
        XCTAssertGreaterThan(perf.slept, 50, "a contended run")
        XCTAssertEqual(slept, perf.slept, "waits that slept: lockstat vs perf")
        // The program's own frames have no name; its lock words are offsets in the file.
        XCTAssertFalse(mine.contains { $0.waiterStack.contains("lock_heavy") }, "a stripped file names nothing")
        let programLocks = Set(mine.map(\.lock).filter { $0.hasPrefix("stripped_truth+0x") })
        XCTAssertFalse(programLocks.isEmpty, "\(Set(mine.map(\.lock)))")
        XCTAssertTrue(mine.contains { $0.waiterStack.contains(Symbolizer.unknownSymbol) })
    }

    /// A mutex in an anonymous mapping that is munmap'd before the program ends: its waits are
    /// counted under the mapping's name with the word's offset (0x100 into a page), their time
    /// within [-15 %, +2 %] of the program's own measure, and the run completes.
    func testALockWordUnmappedBeforeTheEnd() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = try compile("unmapped_word.c", "unmapped_word", in: dir)
        let r = try run(dir, [exe, "1", "4"])
        XCTAssertEqual(r.status, 0, r.err)
        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let fields = output.split(whereSeparator: \.isWhitespace)
        let own = try XCTUnwrap(fields.firstIndex(of: "heavy_ns").flatMap { Double(fields[$0 + 1]) }, output)
        let analysis = try FutexAnalysis(log: RawLog.read(path: dir + "/run/samples/futex.log"))
        let mine = analysis.waits.filter { $0.task.hasPrefix("unmapped_word[") && $0.kind == .mutex && $0.wait.slept }
        let byLock = Dictionary(grouping: mine, by: \.lock).mapValues { $0.reduce(0.0) { $0 + Double($1.wait.total) } }
        let (lock, waited) = try XCTUnwrap(byLock.max { $0.value < $1.value }, "\(byLock)")
        XCTAssertTrue(lock.hasPrefix("[anon]+0x") && lock.hasSuffix("100"), "\(byLock)")
        print("unmapped word: \(lock) waited \(waited / 1e9) s against the program's own \(own / 1e9) s")
        XCTAssertEqual(waited, own * 0.935, accuracy: own * 0.085)
    }
}
