import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// compare with contention.wakers yes: hold under contention per holder's caller (`hold_callers`)
/// is compared beside the callers' waits. Two runs of the mkdir storm, each in a directory of its
/// own (so its lock's address differs): the storm's callers are one row with a value on each
/// side, and the text shows the table.
final class CompareHoldsTests: XCTestCase {
    func testHoldsPerCallerMatchAcrossRunsWhoseLocksDiffer() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mkdir-storm.c")
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        for side in ["a", "b"] {
            try FileManager.default.createDirectory(atPath: dir + "/storm-" + side, withIntermediateDirectories: false)
            let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/" + side, storm, dir + "/storm-" + side, "2", "4"])
            XCTAssertEqual(r.status, 0, r.err)
        }
        let r = try Lockstat.tool(["compare", dir + "/a", dir + "/b", "--output", dir + "/cmp"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("contention hold_callers"), r.out)
        let json = try XCTUnwrap(
            JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cmp/compare.json")))
                as? [String: Any])
        let tables = try XCTUnwrap(json["tables"] as? [[String: Any]])
        let holds = try XCTUnwrap(tables.first { $0["table"] as? String == "hold_callers" }, "\(tables.map { $0["table"] })")
        XCTAssertEqual(holds["metric"] as? String, "hold_total")
        let rows = try XCTUnwrap(holds["rows"] as? [[String: Any]])
        func describe() -> String { rows.map { "\($0["labels"] ?? "") \($0["median_a"] ?? "") \($0["median_b"] ?? "")" }.joined(separator: "\n") }
        // The directory's rwsem, held for writing by mkdir's and rmdir's callers on both sides.
        let storms = rows.filter {
            let labels = $0["labels"] as? [String] ?? []
            return labels.contains { $0.hasPrefix("do_mkdirat+") || $0.hasPrefix("__x64_sys_rmdir+") || $0.hasPrefix("do_rmdir+") }
        }
        XCTAssertFalse(storms.isEmpty, describe())
        XCTAssertTrue(
            storms.contains { ($0["median_a"] as? Double ?? 0) > 0 && ($0["median_b"] as? Double ?? 0) > 0 }, describe())
        // Per lock, the same holds are two rows (one address a side), never one with both.
        let perLock = try XCTUnwrap(tables.first { $0["table"] as? String == "holds" })
        let lockRows = try XCTUnwrap(perLock["rows"] as? [[String: Any]]).filter {
            ($0["labels"] as? [String] ?? []).contains { $0.hasPrefix("do_mkdirat+") }
        }
        XCTAssertFalse(
            lockRows.contains { ($0["median_a"] as? Double ?? 0) > 0 && ($0["median_b"] as? Double ?? 0) > 0 },
            "\(lockRows)")
    }
}
