import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Hold under contention (contention.wakers yes): from a task's acquisition after waiting to its
/// wake of the next waiter, and each lock's contended time split into those holds, the handover
/// gaps and holds of tasks not tracked.
final class HandoverHoldTests: XCTestCase {
    /// 4 workers on one directory of a disk filesystem: its rwsem is never free while the storm
    /// runs, so its contended time is the storm's run time, and holds + gaps + untracked holds
    /// make it up within 5 %; the holds table adds up to the lock's holds; no hold is negative.
    func testTheDirectoryLocksContendedTimeIsItsHoldsAndGaps() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let started = Date()
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", exe, dir + "/storm", "3", "4"])
        let outer = Date().timeIntervalSince(started)
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let handovers = try XCTUnwrap(d["handover"]?.listItems, "no handover rows in samples.pickle")
        func ns(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }
        let lock = try XCTUnwrap(handovers.max { ns($0, "contended_ns") < ns($1, "contended_ns") })
        let name = lock["lock"]?.string ?? ""
        let contended = ns(lock, "contended_ns"), held = ns(lock, "hold_ns")
        let parts = held + ns(lock, "gap_ns") + ns(lock, "untracked_hold_ns")
        let describe = "\(lock)"
        XCTAssertEqual(parts / contended, 1, accuracy: 0.05, describe)
        // Contended while the 3 s storm ran: never longer than the whole run, nearly all of the storm.
        XCTAssertLessThanOrEqual(contended / 1e9, outer, describe)
        XCTAssertGreaterThan(contended / 1e9, 3 * 0.9, describe)
        XCTAssertGreaterThan(ns(lock, "holds"), 0, describe)
        // The holds table of that lock: its holds add up to the lock's, each row's histogram to its count.
        let rows = (d["holds_under_contention"]?.listItems ?? []).filter { $0["lock"]?.string == name }
        XCTAssertEqual(rows.reduce(0) { $0 + ns($1, "holds") }, ns(lock, "holds"), "\(rows)")
        XCTAssertEqual(rows.reduce(0) { $0 + ns($1, "hold_ns") } / held, 1, accuracy: 0.01, "\(rows)")
        for row in rows {
            let histogram = row["hold_histogram"]?.stringItems ?? []
            XCTAssertEqual(histogram.reduce(0) { $0 + ($1.value.number ?? 0) }, ns(row, "holds"), "\(row)")
            // A negative hold would be a huge unsigned one: none exceeds the lock's contended time.
            XCTAssertLessThanOrEqual(ns(row, "max_hold_ns"), contended, "\(row)")
            XCTAssertLessThanOrEqual(ns(row, "hold_ns"), held * 1.0001, "\(row)")
        }
        // The releasers' callers: the storm's mkdir and rmdir paths.
        XCTAssertTrue(rows.contains { ($0["caller"]?.string ?? "").contains("rmdir") }, "\(rows)")
        let report = try Lockstat.tool(["report", dir + "/run", "--by", "hold"])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertTrue(report.out.contains("hold under contention"), report.out)
    }

    /// The owner's stack at a waiter's begin (bpf_task_from_pid + bpf_get_task_stack, 6.2+): on
    /// the mkdir/rmdir storm the directory's owner is inside mkdir or rmdir for most begins, and
    /// no lock has more owner stacks than its waits began.
    func testOwnerStacksAtBeginShowTheDirectorysHolder() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\ncontention.owner_stacks yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", exe, dir + "/storm", "2", "4"])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let stacks = try XCTUnwrap(d["owner_stacks_at_begin"]?.listItems, "no owner stacks in samples.pickle")
        func n(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }
        var perLock = [String: Double]()
        for o in stacks { perLock[o["lock"]?.string ?? "", default: 0] += n(o, "contended") }
        let lock = try XCTUnwrap(perLock.max { $0.value < $1.value })
        // Waits on that lock (all its waiters' rows) bound the begins that saw an owner.
        let waits = (d["wakers"]?.listItems ?? []).filter { $0["lock"]?.string == lock.key }
            .reduce(0) { $0 + n($1, "contended") }
        XCTAssertGreaterThan(lock.value, 0)
        XCTAssertLessThanOrEqual(lock.value, waits, "owner stacks \(lock.value), waits \(waits)")
        let inStorm = stacks.filter {
            $0["lock"]?.string == lock.key && ($0["owner_stack"]?.string ?? "").split(separator: ";")
                .contains { $0.contains("rmdir") || $0.contains("mkdir") }
        }.reduce(0) { $0 + n($1, "contended") }
        XCTAssertGreaterThan(inStorm / lock.value, 0.5, "\(stacks.prefix(5))")
    }
}
