import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// `lockstat report DIR --stack/--type/--lock` on a futex run (Tests/futex/futex_truth.c):
/// the futex tables keep only the waits the options choose, as contention's do.
final class FutexReportFilterTests: XCTestCase {
    /// The report's rows as (kind, key): a row starts with its wait count; the key is the last column.
    func rows(_ arguments: [String]) throws -> [(kind: String, key: String)] {
        let r = try Lockstat.tool(["report"] + arguments)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertFalse(r.err.contains("not applied"), r.err)
        return r.out.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            // waits, the times (numbers and units), did not sleep, timed out, kind, stack, key
            let kinds = Set(FutexKind.allCases.map(\.rawValue) + ["mixed"])
            guard Int(f.first ?? "") != nil, let kindAt = f.firstIndex(where: { kinds.contains(String($0)) }),
                kindAt + 2 < f.count
            else { return nil }
            return (String(f[kindAt]), f[(kindAt + 2)...].joined(separator: " "))
        }
    }

    func testStackTypeAndLockChooseTheFutexRows() throws {
        try requireFutexModule()
        let path = try runFutexTruth(in: temporaryDirectory())
        let all = try rows([path, "--by", "lock"])
        let keys = Set(all.map(\.key))
        XCTAssertTrue(
            keys.isSuperset(of: ["heavy_lock (futex_truth)", "light_lock (futex_truth)"]),
            "\(all)")
        // Only light_worker takes light_lock, and it never runs lock_heavy.
        let heavyStack = try rows([path, "--by", "lock", "--stack", "lock_heavy"])
        XCTAssertTrue(heavyStack.contains { $0.key == "heavy_lock (futex_truth)" }, "\(heavyStack)")
        XCTAssertFalse(heavyStack.contains { $0.key == "light_lock (futex_truth)" }, "\(heavyStack)")
        let condvars = try rows([path, "--by", "lock", "--type", "condvar"])
        XCTAssertFalse(condvars.isEmpty)
        XCTAssertEqual(Set(condvars.map(\.kind)), ["condvar"], "\(condvars)")
        XCTAssertTrue(all.contains { $0.kind == "mutex" })
        for wanted in ["heavy_lock", "heavy_lock (futex_truth)"] {
            let heavy = try rows([path, "--by", "waiter", "--lock", wanted])
            XCTAssertFalse(heavy.isEmpty)
            XCTAssertFalse(heavy.contains { $0.key.contains("light") }, "\(heavy)")
        }
        let waiters = try rows([path, "--by", "waiter", "--stack", "lock_light"])
        XCTAssertFalse(waiters.contains { $0.key == "lock_heavy" }, "\(waiters)")
    }
}
