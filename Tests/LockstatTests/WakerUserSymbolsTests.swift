import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.wakers' user stacks named: in a storm whose program creates every directory in
/// create_entry and removes it in remove_entry (Tests/contention/release-sites.c), the waits the
/// kernel's do_rmdir released name remove_entry in the waker's user frames and as its program
/// site, those do_mkdirat released name create_entry; `report --by waker` shows them.
final class WakerUserSymbolsTests: XCTestCase {
    func testTheWakersUserFramesNameTheProgramsReleasingFunction() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), exe = dir + "/release-sites"
        // Frame pointers and no sibling calls: the user stack is walked by them.
        let cc = try shell([
            "cc", "-O2", "-fno-omit-frame-pointer", "-fno-optimize-sibling-calls", "-pthread", "-o", exe,
            Fixtures.repository.path + "/Tests/contention/release-sites.c",
        ])
        XCTAssertEqual(cc.status, 0, cc.err)
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", exe, dir + "/storm", "3", "4"])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let wakers = try XCTUnwrap(d["wakers"]?.listItems, "no waker rows in samples.pickle")
        func wait(_ row: PyValue) -> Double { row["total_wait_ns"]?.number ?? 0 }
        func describe(_ rows: [PyValue]) -> String {
            rows.prefix(10).map {
                "\(wait($0)) ns \($0["waker"]?.string ?? ""): [\($0["waker_user_stack"]?.string ?? "")] "
                    + "site \($0["waker_user_site"]?.string ?? "")"
            }.joined(separator: "\n")
        }
        // Of the wait each kernel release path ended, the share whose user frames name `function`.
        func named(_ kernel: String, _ function: String) throws -> Double {
            let rows = wakers.filter {
                $0["class"]?.string == "task" && ($0["waker_stack"]?.string ?? "").split(separator: ";")
                    .contains { $0 == kernel }
            }
            let all = rows.reduce(0.0) { $0 + wait($1) }
            XCTAssertGreaterThan(all, 0, "no wait released by \(kernel)\n\(describe(wakers))")
            let hits = rows.filter {
                ($0["waker_user_stack"]?.string ?? "").split(separator: ";").contains { $0 == function }
                    && $0["waker_user_site"]?.string == function
            }
            return hits.reduce(0.0) { $0 + wait($1) } / max(1, all)
        }
        let removed = try named("do_rmdir", "remove_entry")
        XCTAssertGreaterThanOrEqual(removed, 0.95, describe(wakers))
        let created = try named("do_mkdirat", "create_entry")
        XCTAssertGreaterThanOrEqual(created, 0.95, describe(wakers))
        // Never the other one: a release in do_rmdir is no create_entry.
        XCTAssertFalse(
            wakers.contains {
                ($0["waker_stack"]?.string ?? "").contains("do_rmdir")
                    && ($0["waker_user_stack"]?.string ?? "").contains("create_entry")
            }, describe(wakers))
        let report = try Lockstat.tool(["report", dir + "/run", "--by", "waker"])
        XCTAssertEqual(report.status, 0, report.err)
        XCTAssertTrue(
            report.out.split(separator: "\n").contains { $0.contains("do_rmdir") && $0.contains("remove_entry") },
            report.out)
    }
}
