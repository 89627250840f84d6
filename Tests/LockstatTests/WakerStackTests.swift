import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.wakers on this machine's kernel (root, BTF): who woke each sleeping wait.
final class WakerStackTests: XCTestCase {
    /// The mkdir/rmdir storm's workers wait on their directory's rwsem for each other, and each
    /// releases it with up_write in do_mkdirat or do_rmdir: at least 95 % of the sleeping wait on
    /// that lock must have a waker stack with that release path in it.
    func testTheMkdirStormsSleepingWaitHasItsReleasersStack() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        // scope program: the storm's own waits only (other storms may run on the machine).
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(
            ["--config", dir + "/c.config", dir + "/run", exe, dir + "/storm", "3", "4"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertFalse(r.err.contains("waker stacks could not load"), r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let wakers = try XCTUnwrap(d["wakers"]?.listItems, "no waker rows in samples.pickle")
        func number(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }
        func describe(_ rows: [PyValue]) -> String {
            rows.map { w in
                "\(w["class"]?.string ?? "") \(w["waker"]?.string ?? "") slept \(number(w, "slept_wait_ns")) ns: "
                    + (w["waker_stack"]?.string ?? "")
            }.joined(separator: "\n")
        }
        // The directory's rwsem: the lock with the most sleeping wait.
        var slept = [String: Double]()
        for w in wakers { slept[w["lock"]!.string!, default: 0] += number(w, "slept_wait_ns") }
        let lock = try XCTUnwrap(slept.max { $0.value < $1.value }?.key)
        let rows = wakers.filter { $0["lock"]?.string == lock }
        XCTAssertTrue(rows.allSatisfy { $0["type"]?.string?.hasPrefix("rwsem") == true }, describe(rows))
        let sleeping = slept[lock]!
        XCTAssertGreaterThan(sleeping, 0, describe(rows))
        // Root first: do_mkdirat or do_rmdir, then (deeper) up_write.
        func releasedByTheStorm(_ w: PyValue) -> Bool {
            let frames = (w["waker_stack"]?.string ?? "").split(separator: ";")
            guard w["class"]?.string == "task", let up = frames.lastIndex(of: "up_write") else { return false }
            return frames[..<up].contains { $0 == "do_mkdirat" || $0 == "do_rmdir" }
        }
        let released = rows.filter(releasedByTheStorm).reduce(0.0) { $0 + number($1, "slept_wait_ns") }
        XCTAssertGreaterThanOrEqual(released / sleeping, 0.95, describe(rows))
        // The report's waker table names those release sites.
        let report = try Lockstat.tool(["report", dir + "/run", "--by", "waker"])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertTrue(report.out.contains("do_rmdir+") || report.out.contains("do_mkdirat+"), report.out)
    }

    /// Waker stacks cost more per wait but lose none: with them on, the storm's workers' counts
    /// agree with `perf lock record` on the same run (perf as the program) within 2 %.
    func testCountsPerTaskAgreeWithPerfWithWakersOn() throws {
        try requireContentionBPF()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        // scope program: perf's tree, so other storms on the machine are in neither count.
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run([
            "--config", dir + "/c.config", dir + "/run", "perf", "lock", "record", "-a", "-o", dir + "/perf.data", "--",
            exe, dir + "/storm", "2", "4",
        ])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        XCTAssertNotNil(d["wakers"], "wakers were not recorded")
        let perfTasks = try PerfLock.contentionsByTask(dir + "/perf.data")
        var workers = [String: Double]()
        for row in d["tasks"]?.listItems ?? [] {
            let task = (row["task"]?.string ?? "").split(separator: " ")
            if task.count == 2, task[1] == "mkdir-storm" {
                workers[String(task[0]), default: 0] += row["contended"]?.number ?? 0
            }
        }
        XCTAssertGreaterThanOrEqual(workers.count, 4, "the storm's workers at least: \(workers)")
        for (pid, ours) in workers {
            let theirs = perfTasks[pid] ?? 0
            XCTAssertEqual(
                ours, theirs, accuracy: max(2, theirs * 0.02), "task \(pid): lockstat \(ours), perf \(theirs)")
        }
    }
}
