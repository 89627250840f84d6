import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.wakers on storms whose releaser is known: at least 95 % of the sleeping wait on the
/// storm's lock has a task waker whose stack holds the release path.
final class WakerReleasePathTests: XCTestCase {
    /// Runs `storm` under scope program with wakers; the lock with the most sleeping wait and the
    /// share of that wait whose waker stack (root first) has one of `callers` above one of `unlocks`.
    func releasedShare(
        _ arguments: [String], storm: String, callers: Set<Substring>, unlocks: Set<Substring>, dir: String
    ) throws -> (share: Double, describe: String) {
        let exe = try compileContentionStorm(storm)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", exe] + arguments)
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let wakers = try XCTUnwrap(d["wakers"]?.listItems, "no waker rows in samples.pickle")
        func slept(_ row: PyValue) -> Double { row["slept_wait_ns"]?.number ?? 0 }
        var byLock = [String: Double]()
        for w in wakers { byLock[w["lock"]?.string ?? "", default: 0] += slept(w) }
        let lock = try XCTUnwrap(byLock.max { $0.value < $1.value }?.key)
        let rows = wakers.filter { $0["lock"]?.string == lock && slept($0) > 0 }
        func released(_ w: PyValue) -> Bool {
            let frames = (w["waker_stack"]?.string ?? "").split(separator: ";")
            guard w["class"]?.string == "task", let unlock = frames.lastIndex(where: unlocks.contains) else {
                return false
            }
            return frames[..<unlock].contains(where: callers.contains)
        }
        let share = rows.filter(released).reduce(0.0) { $0 + slept($1) } / max(1, byLock[lock]!)
        let unreleased = rows.filter { !released($0) }.prefix(10).map {
            "\($0["class"]?.string ?? "") \(slept($0)) ns: \($0["waker_stack"]?.string ?? "")"
        }
        let describe = "lock \(lock), \(byLock[lock]!) ns slept; not released so:\n"
        return (share, describe + unreleased.joined(separator: "\n"))
    }

    /// 4 processes renaming files of their own in one directory: lock_rename takes its rwsem, the
    /// releaser is do_renameat2 → unlock_rename → up_write.
    func testTheRenameStormsWaitIsReleasedByDoRenameat2() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        let r = try releasedShare(
            [dir + "/storm", "3", "4"], storm: "rename-storm.c", callers: ["do_renameat2"], unlocks: ["up_write"],
            dir: dir)
        XCTAssertGreaterThanOrEqual(r.share, 0.95, r.describe)
    }

    /// Threads mapping and unmapping: the process's mmap_lock is released by mmap (up_write in
    /// vm_mmap_pgoff), munmap (up_read after the downgrade in vms_complete_munmap_vmas) and faults.
    func testTheMmapStormsWaitIsReleasedByMmapMunmapOrAFault() throws {
        try requireContentionBPF()
        let r = try releasedShare(
            ["3", "4"], storm: "mmap-storm.c",
            callers: ["vm_mmap_pgoff", "vms_complete_munmap_vmas", "__vm_munmap", "do_vmi_munmap", "exc_page_fault"],
            unlocks: ["up_write", "up_read", "downgrade_write"], dir: temporaryDirectory())
        XCTAssertGreaterThanOrEqual(r.share, 0.95, r.describe)
    }
}
