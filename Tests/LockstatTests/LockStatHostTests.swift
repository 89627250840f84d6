import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The lock_stat module where /proc/lock_stat is absent (this machine), unreadable, or a
/// replayed tree; and its report.
final class LockStatHostTests: XCTestCase {
    func testAbsentOnThisKernelTheRunGoesOnWithoutIt() throws {
        guard FileReader.check("/proc/lock_stat") == .missing else { throw XCTSkip("SKIPPED: this kernel has /proc/lock_stat") }
        let modules = try Lockstat.tool(["modules"])
        XCTAssertTrue(modules.out.contains("lock_stat  unavailable: kernel built without CONFIG_LOCK_STAT (no /proc/lock_stat)"), modules.out)
        let dir = temporaryDirectory()
        let r = try Lockstat.run(["--modules", "stat,lock_stat", dir, "true"])
        XCTAssertEqual(r.status, 0)
        XCTAssertEqual(r.err, "lockstat: warning: module lock_stat skipped: kernel built without CONFIG_LOCK_STAT (no /proc/lock_stat)\n")
        XCTAssertEqual(try Lockstat.samples(dir)["lock_stat"], PyValue.none)
        XCTAssertEqual(try Lockstat.tool(["report", dir]).status, 1)
    }

    /// A replayed tree is read-only: neither the clear nor the switch is written into the
    /// capture, whatever lock_stat.clear says, and the run says so in one line.
    func testAReplayLeavesTheCaptureByteForByteUnchanged() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc/sys/kernel", withIntermediateDirectories: true)
        let fixture = try Fixtures.bytes("lock_stat/vm-6.1-idle.txt")
        try Data(fixture).write(to: URL(fileURLWithPath: root + "/proc/lock_stat"))
        try "7\n".write(toFile: root + "/proc/sys/kernel/lock_stat", atomically: false, encoding: .utf8)
        for clear in ["yes", "no"] {
            let config = root + "/c.config"
            try "modules lock_stat\nlock_stat.intervall 0.1\nlock_stat.clear \(clear)\n".write(toFile: config, atomically: true, encoding: .utf8)
            let r = try Lockstat.run(["--config", config, "--proc-root", root, root + "/run", "sleep", "0.3"])
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(r.err.contains("lockstat: warning: lock_stat: replaying \(root): the lock_stat switch and clear are skipped"), r.err)
            XCTAssertEqual(Array(try Data(contentsOf: URL(fileURLWithPath: root + "/proc/lock_stat"))), fixture, "clear \(clear): the capture is unchanged")
            XCTAssertEqual(try String(contentsOfFile: root + "/proc/sys/kernel/lock_stat", encoding: .utf8), "7\n")
            let data = try Lockstat.samples(root + "/run")["lock_stat"]
            XCTAssertNotNil(data?["time"]?.series, "the replay was still sampled")
        }
    }

    func testNeedsRootWhenUnreadable() throws {
        let root = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        FileManager.default.createFile(atPath: root + "/proc/lock_stat", contents: Data(), attributes: [.posixPermissions: 0o600])
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/proc")
        let me = try shell(["id", "-u"]).out
        guard me == "0\n" else { throw XCTSkip("SKIPPED: needs root to run the check as an unprivileged user") }
        let r = try shell(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", Lockstat.binaries + "/lockstat", "modules", "--proc-root", root])
        XCTAssertTrue(r.out.contains("lock_stat  unavailable: needs root (\(root)/proc/lock_stat is readable by root only)"), r.out + r.err)
    }

}
