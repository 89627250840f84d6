import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// oprofile.callgraph dwarf: a CPU profile of a -O2 program whose hot function runs under glibc's
/// qsort (no frame pointers in either) is whole down to main, as `perf record --call-graph dwarf`
/// gives it on the same run; with frame-pointer call chains it is not.
final class ProfileDwarfTests: XCTestCase {
    struct Shares { var samples = 0.0, hot = 0.0, hotUnderMain = 0.0, hotUnderSortRound = 0.0 }

    func requireProfilerAndPerf() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: system-wide perf events need root here") }
        if let reason = ProfileModule().unavailableReason(SystemRoot()) { throw XCTSkip("SKIPPED: \(reason)") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
    }

    func compileThroughLibc() throws -> String {
        let exe = temporaryDirectory() + "/through-libc"
        let cc = try shell(["cc", "-O2", "-g", "-fomit-frame-pointer", "-o", exe,
                            Fixtures.repository.path + "/Tests/profile/through-libc.c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        return exe
    }

    /// lockstat's folded stacks of the program (`comm;root;…;leaf count`).
    func lockstatShares(_ run: String) throws -> Shares {
        var s = Shares()
        for line in try String(contentsOfFile: run + "/oprofile.folded", encoding: .utf8).split(separator: "\n") {
            let cut = line.lastIndex(of: " ")!
            let frames = line[..<cut].split(separator: ";").map(String.init)
            guard frames.first == "through-libc", let n = Double(line[line.index(after: cut)...]) else { continue }
            s.samples += n
            guard frames.last == "compare_keys" else { continue }
            s.hot += n
            if frames.contains("main") { s.hotUnderMain += n }
            if frames.contains("sort_round") { s.hotUnderSortRound += n }
        }
        return s
    }

    /// perf's samples of the program, each call chain innermost first (`perf script -F comm,ip,sym`).
    func perfShares(_ data: String) throws -> Shares {
        let r = try shell(["perf", "script", "-i", data, "-F", "comm,ip,sym"])
        XCTAssertEqual(r.status, 0, r.err)
        var s = Shares()
        for block in r.out.components(separatedBy: "\n\n") {
            let lines = block.split(separator: "\n")
            guard let head = lines.first, head.trimmingCharacters(in: .whitespaces) == "through-libc" else { continue }
            // "\t    1274 compare_keys": the address, then the symbol.
            let frames = lines.dropFirst().compactMap {
                $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).dropFirst().first.map(String.init)
            }
            s.samples += 1
            guard frames.first == "compare_keys" else { continue }
            s.hot += 1
            if frames.contains("main") { s.hotUnderMain += 1 }
            if frames.contains("sort_round") { s.hotUnderSortRound += 1 }
        }
        return s
    }

    func run(callgraph: String, exe: String, perfAlongside: Bool, sudoBy user: UInt32? = nil) throws -> (
        dir: String, ours: Shares, err: String
    ) {
        let dir = temporaryDirectory()
        try "modules oprofile\noprofile.frequency 499\noprofile.scope program\noprofile.callgraph \(callgraph)\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        // perf records the same program as lockstat's program: both see its tasks, perf's window inside lockstat's.
        let program = perfAlongside
            ? ["perf", "record", "-q", "--call-graph", "dwarf", "-F", "499", "-e", "cpu-clock", "-o", dir + "/perf.data",
               "--", exe, "3"]
            : [exe, "3"]
        let sudo = user.map { ["env", "SUDO_UID=\($0)", "SUDO_GID=\($0)"] } ?? []
        let r = try shell(
            sudo + [Lockstat.binaries + "/lockstat-run", "--config", dir + "/c.config", dir + "/run"] + program)
        XCTAssertEqual(r.status, 0, r.err)
        return (dir, try lockstatShares(dir + "/run"), r.err)
    }

    func testDwarfCallGraphsAreWholeThroughLibcAsPerfsAre() throws {
        try requireProfilerAndPerf()
        let exe = try compileThroughLibc()
        let (dir, ours, _) = try run(callgraph: "dwarf", exe: exe, perfAlongside: true)
        let perf = try perfShares(dir + "/perf.data")
        print("compare_keys: lockstat \(ours.hot) of \(ours.samples) samples, \(ours.hotUnderMain) under main, "
              + "\(ours.hotUnderSortRound) under sort_round; perf \(perf.hot) of \(perf.samples), "
              + "\(perf.hotUnderMain) under main, \(perf.hotUnderSortRound) under sort_round")
        // 3 s at 499 Hz of a CPU-bound program: ~1,500 samples on a quiet machine, ~700 with the
        // machine's two CPUs shared.
        XCTAssertGreaterThan(ours.samples, 300)
        XCTAssertGreaterThan(perf.samples, 300)
        // The hot function's share of the program: the same within 5 points (sampling noise at
        // 700 samples is ±1.5 points each).
        XCTAssertEqual(ours.hot / ours.samples, perf.hot / perf.samples, accuracy: 0.05)
        // Whole stacks: nearly every sample of compare_keys reaches main through qsort and
        // sort_round, as perf's do.
        XCTAssertGreaterThanOrEqual(ours.hotUnderSortRound / ours.hot, 0.95)
        XCTAssertGreaterThanOrEqual(ours.hotUnderMain / ours.hot, 0.95)
        XCTAssertEqual(ours.hotUnderMain / ours.hot, perf.hotUnderMain / perf.hot, accuracy: 0.03)

        // The same program with frame-pointer call chains does not get there: the reason for dwarf.
        let (_, fp, _) = try run(callgraph: "fp", exe: exe, perfAlongside: false)
        print("with oprofile.callgraph fp: \(fp.hotUnderMain) of \(fp.hot) compare_keys samples under main")
        XCTAssertLessThan(fp.hotUnderMain / max(fp.hot, 1), 0.5)
    }

    /// Under sudo the raw log is the invoking user's, and perf events copy every sampled task's
    /// stack whoever owns it: dwarf is refused in one line and frame pointers are used.
    func testUnderSudoDwarfFallsBackToFramePointers() throws {
        try requireProfilerAndPerf()
        let exe = try compileThroughLibc()
        let nobody: UInt32 = 65534
        let (dir, ours, err) = try run(callgraph: "dwarf", exe: exe, perfAlongside: false, sudoBy: nobody)
        XCTAssertTrue(err.contains("oprofile.callgraph dwarf: not under sudo"), err)
        XCTAssertGreaterThan(ours.hot, 0)
        XCTAssertLessThan(ours.hotUnderMain / ours.hot, 0.5, "no stack was copied, so none was unwound")
        var st = stat()
        XCTAssertEqual(stat(dir + "/run/samples/oprofile.log", &st), 0)
        XCTAssertEqual(st.st_uid, nobody, "the raw log is the invoking user's")
    }
}
