import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// Processes that wait and exit between two ticks: no tick reads their maps, so their frames
/// are named from the kernel's MMAP2 records (the module's dummy perf event), build IDs included.
final class FutexShortLivedTests: XCTestCase {
    func testProcessesGoneBeforeTheTickHaveTheirFramesNamed() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = dir + "/futex_truth"
        try compileFutexTruth(at: exe)
        // Six processes of 50 ms each, started by a shell: all of them are gone by the end of the
        // run, and most before any tick (every 0.5 s) could read their maps.
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(
            [
                "--config", dir + "/f.config", dir + "/run", "sh", "-c",
                "for i in 1 2 3 4 5 6; do '\(exe)' 0.05 4 >/dev/null; done",
            ], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let futex = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        let waiters = (futex["waiters"]?.listItems ?? []).compactMap { row -> (String, Double, String)? in
            guard let key = row["key"]?.string, let total = row["total_wait_ns"]?.number else { return nil }
            return (key, total, row["stack"]?.string ?? "")
        }
        let all = waiters.reduce(0) { $0 + $1.1 }
        XCTAssertGreaterThan(all, 0, "the processes contended: \(waiters)")
        let unknown = waiters.filter { $0.0.contains(Symbolizer.unknownSymbol) }.reduce(0) { $0 + $1.1 }
        XCTAssertLessThan(unknown, all * 0.05, "waits of gone processes still have named frames: \(waiters)")
        let heavy = try XCTUnwrap(waiters.first { $0.0 == "lock_heavy" }, "lock_heavy is a waiter: \(waiters)")
        XCTAssertEqual(heavy.2, "dwarf", "unwound with the files' CFI (build IDs from the records): \(waiters)")
    }
}
