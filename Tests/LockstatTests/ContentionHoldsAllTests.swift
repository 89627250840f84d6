import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.holds all: fentry programs probed at load. Where they are refused (this machine's
/// kernel: EPERM) the run says so in one line and keeps holds under contention; doctor's verdict
/// is bpftrace's (its `kfunc` probe type, a fentry program too).
final class ContentionHoldsAllTests: XCTestCase {
    func config(_ dir: String) throws -> String {
        let path = dir + "/c.config"
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\ncontention.holds all\n"
            .write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// Where fentry loads: the run's one line says every hold is not timed yet (the fentry path
    /// is not written), and the run goes on.
    func testWhereFentryLoadsTheRunSaysEveryHoldIsNotTimedYet() throws {
        try requireContentionBPF()
        if let refusal = ContentionModule.fentryRefusal(SystemRoot()) {
            throw XCTSkip("SKIPPED: fentry programs do not load here (\(refusal)): contention.holds all cannot time every hold")
        }
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        let r = try Lockstat.run(["--config", try config(dir), dir + "/run", storm, dir + "/storm", "1", "4"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.err.split(separator: "\n").filter { $0.contains("contention.holds all") }
        XCTAssertEqual(lines.count, 1, r.err)
        XCTAssertTrue(lines.first?.contains("not implemented yet") == true, r.err)
    }

    func testWhereFentryIsRefusedTheRunSaysSoOnceAndKeepsHoldsUnderContention() throws {
        try requireContentionBPF()
        guard let refusal = ContentionModule.fentryRefusal(SystemRoot()) else {
            throw XCTSkip("SKIPPED: fentry programs load here: nothing is refused")
        }
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        let r = try Lockstat.run(["--config", try config(dir), dir + "/run", storm, dir + "/storm", "2", "4"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.err.split(separator: "\n").map(String.init).filter { $0.contains("contention.holds all") }
        let notice = "lockstat: warning: " + ContentionModule.holdsAllNotice(fentryRefusal: refusal, wakers: true)
        XCTAssertEqual(lines, [notice], r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let holds = try XCTUnwrap(d["holds_under_contention"]?.listItems, "no holds in samples.pickle")
        XCTAssertGreaterThan(holds.reduce(0.0) { $0 + ($1["holds"]?.number ?? 0) }, 100, "\(holds)")
    }

    /// bpftrace's --info probes kfunc by loading a fentry program: its yes/no is doctor's.
    func testDoctorsFentryVerdictIsBpftraces() throws {
        try requireContentionBPF()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/bpftrace") else {
            throw XCTSkip("SKIPPED: no bpftrace (.ci/run installs it)")
        }
        let info = try shell(["bpftrace", "--info"])
        let kfunc = try XCTUnwrap(
            (info.out + info.err).split(separator: "\n").first { $0.trimmingCharacters(in: .whitespaces).hasPrefix("kfunc:") },
            info.out + info.err)
        let doctor = try Lockstat.tool(["doctor"])
        let line = try XCTUnwrap(doctor.out.split(separator: "\n").first { $0.contains("fentry:") }, doctor.out)
        if kfunc.hasSuffix("yes") {
            XCTAssertTrue(line.contains("fentry programs load"), "bpftrace: \(kfunc); doctor: \(line)")
        } else {
            XCTAssertTrue(line.contains("refused ("), "bpftrace: \(kfunc); doctor: \(line)")
        }
    }
}
