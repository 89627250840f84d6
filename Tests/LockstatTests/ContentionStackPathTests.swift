import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// bpf mode's cheaper per-contention path (bpf/contention.bpf.c): a kernel stack found again by
/// its call path's return addresses on the stack instead of a walk of the unwinder, and a
/// spinning wait's aggregation left for its CPU's next spinning begin (lockstat adds what is left
/// when the run ends).
final class ContentionStackPathTests: XCTestCase {
    func run(_ dir: String, _ settings: String, _ command: [String], environment: [String: String] = [:]) throws -> PyValue {
        try "modules contention\ncontention.mode bpf\ncontention.scope program\n\(settings)"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        for (k, v) in environment { setenv(k, v, 1) }
        defer { for k in environment.keys { unsetenv(k) } }
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run"] + command, quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        return try XCTUnwrap(Lockstat.samples(dir + "/run")["contention"])
    }

    /// With every stack found by its path walked as well (LOCKSTAT_TEST_CHECK_PATHS: the stacks
    /// kept are the walks'), no path gave another stack than its walk, on the futex storm (spinlocks,
    /// one path; its words read in place, and copied as older kernels need) and the mkdir/rmdir
    /// storm with waker stacks (rwsems: the waiters' and the wakers' paths, deeper, through the
    /// VFS). Before interrupts were left out, a timer softirq's path (the same words, over whatever
    /// task it interrupted) gave conflicts here in every run.
    func testEveryPathFoundGivesTheStackItsWalkGives() throws {
        try requireContentionBPF()
        let futex = try compileContentionStorm("futex-storm.c"), mkdir = try compileContentionStorm("mkdir-storm.c")
        let dir = temporaryDirectory()
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: true)
        // LOCKSTAT_TEST_NO_KFUNCS: the path's words copied by bpf_probe_read_kernel, as on kernels
        // before 6.17 (no bpf_rdonly_cast to void), not read in place.
        let storms: [(name: String, settings: String, command: [String], hitShare: Double, environment: [String: String])] = [
            ("futex", "", [futex, "3"], 0.9, [:]),
            ("futex, words copied", "", [futex, "3"], 0.9, ["LOCKSTAT_TEST_NO_KFUNCS": "1"]),
            ("mkdir", "contention.wakers yes\n", [mkdir, dir + "/storm", "3", "4"], 0.3, [:]),
        ]
        for storm in storms {
            let runDir = dir + "/" + storm.name.replacingOccurrences(of: ", ", with: "-").replacingOccurrences(of: " ", with: "-")
            try FileManager.default.createDirectory(atPath: runDir, withIntermediateDirectories: true)
            let d = try run(runDir, storm.settings, storm.command, environment: storm.environment.merging(["LOCKSTAT_TEST_CHECK_PATHS": "1"]) { a, _ in a })
            let cost = try XCTUnwrap(d["cost"])
            let hits = try XCTUnwrap(cost["path_hits"]?.number), recorded = try XCTUnwrap(cost["recorded"]?.number)
            print("ContentionStackPathTests: \(storm.name): \(Int(hits)) paths found, \(Int(recorded)) waits, "
                + "\(Int(cost["path_conflicts"]?.number ?? -1)) conflicts")
            XCTAssertGreaterThan(recorded, 1000, "\(storm.name): a storm: \(cost)")
            // Waiter stacks only on the futex storm: most begins find their path (interrupts' do not).
            XCTAssertGreaterThan(hits, storm.hitShare * recorded, "\(storm.name): \(cost)")
            XCTAssertEqual(cost["path_conflicts"]?.number, 0, "\(storm.name): \(cost)")
        }
    }

    /// LOCKSTAT_TEST_WALK_EVERY_STACK (every stack walked, as before paths) and the default name
    /// the same busiest caller of the futex storm: the path only replaces the walk.
    func testPathsAndWalksNameTheSameCallers() throws {
        try requireContentionBPF()
        let futex = try compileContentionStorm("futex-storm.c")
        var callers = [String: String]()
        for (name, environment) in [("walks", ["LOCKSTAT_TEST_WALK_EVERY_STACK": "1"]), ("paths", [:])] {
            let dir = temporaryDirectory() + "/" + name
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let d = try run(dir, "", [futex, "2"], environment: environment)
            XCTAssertEqual(d["cost"]?["path_hits"]?.number == 0, name == "walks", "\(name): \(d["cost"]!)")
            let busiest = d["callers"]!.listItems!.max { $0["contended"]!.number! < $1["contended"]!.number! }
            callers[name] = busiest?["caller"]?.string
        }
        XCTAssertEqual(callers["walks"], callers["paths"], "the busiest caller")
        XCTAssertTrue(callers["walks"]?.contains("futex") == true, "\(callers)")
    }

    /// Every begin is recorded, nested, or filtered (another process's): none is lost, the
    /// spinning waits still left for their CPU's next begin when the run ended included (without
    /// them one a CPU was missing in each of two runs).
    func testEveryEndedSpinningWaitIsRecorded() throws {
        try requireContentionBPF()
        let futex = try compileContentionStorm("futex-storm.c")
        let dir = temporaryDirectory()
        let d = try run(dir, "", [futex, "2"])
        let cost = try XCTUnwrap(d["cost"])
        func n(_ key: String) -> Double { cost[key]?.number ?? -1 }
        XCTAssertGreaterThan(n("recorded"), 10_000, "a storm: \(cost)")
        XCTAssertEqual(n("map_full"), 0)
        XCTAssertEqual(n("start_failed"), 0)
        // An interrupt's end while the end program ran on its CPU is not run (recursion_missed):
        // its begin is the only kind counted and not recorded.
        let accounted = n("recorded") + n("nested") + n("filtered")
        XCTAssertLessThanOrEqual(accounted, n("begins_seen"), "\(cost)")
        XCTAssertGreaterThanOrEqual(accounted + n("recursion_missed"), n("begins_seen"), "\(cost)")
        XCTAssertEqual(n("contentions"), n("recorded"), "\(cost)")
    }
}
