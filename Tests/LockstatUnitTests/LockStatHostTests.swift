import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The lock_stat module's report on a capture made here.
final class LockStatHostTests: XCTestCase {
    func testReportSortsAndScalesUnits() throws {
        let header = "lock_stat version 0.4\n                              class name    con-bounces    contentions   waittime-min   waittime-max waittime-total   waittime-avg    acq-bounces   acquisitions   holdtime-min   holdtime-max holdtime-total   holdtime-avg\n"
        let text = header +
            "lockA: 1 10 0.50 900.00 2500.00 250.00 2 1000 0.10 5.00 100.00 0.10\n   -----\n   lockA 10 [<00000000deadbeef>] foo+0x1/0x2\n" +
            "lockB: 1 2 0.50 9.00 12.00 6.00 2 50000 0.10 5.00 3000000.00 60.00\n"
        let log = try rawLog(snapshots: [Array(text.utf8)], times: [0])
        let report = TableReport(modules: [("lock_stat", try LockStatModule().parse(log, config: Config(modules: ["lock_stat"])).model.results)])
        let byWait = try report.render(sort: "wait-total", by: nil, top: 10).split(separator: "\n")
        XCTAssertEqual(byWait.count, 3)
        XCTAssertTrue(byWait[1].contains("lockA") && byWait[1].contains("2.50 ms") && byWait[1].contains("900.00 us") && byWait[1].contains("foo+0x1/0x2 (10)"), String(byWait[1]))
        let byHold = try report.render(sort: "hold-total", by: nil, top: 1).split(separator: "\n")
        XCTAssertEqual(byHold.count, 2)
        XCTAssertTrue(byHold[1].contains("lockB") && byHold[1].contains("3.00 s") && byHold[1].contains("60.00 us"), String(byHold[1]))
        XCTAssertThrowsError(try report.render(sort: "bogus", by: nil, top: 1))
    }
}
