import XCTest
@testable import LockstatModules

/// The programs' run time from counter snapshots whose run time grew only in the windows.
final class BPFRunTimeEstimateTests: XCTestCase {
    /// A window measures 1,000 events at 500 ns each; the next two intervals (statistics off:
    /// run count unchanged) add their events at that rate; a second window at 700 ns an event
    /// moves the rate to the windows' whole: (500,000 + 700,000) / 2,000 = 600 ns.
    func testIntervalsBetweenWindowsAddTheirEventsAtTheWindowsRate() {
        var e = BPFRunTimeEstimate()
        let firstWindow: Double = 500_000, between: Double = 2_500 * 500, secondWindow: Double = 700_000
        e.add(events: 1_000, runNanoseconds: 500_000, runs: 2_000)
        XCTAssertEqual(e.nanoseconds, firstWindow)
        e.add(events: 3_000, runNanoseconds: 500_000, runs: 2_000)
        e.add(events: 3_500, runNanoseconds: 500_000, runs: 2_000)
        XCTAssertEqual(e.nanoseconds, firstWindow + between)
        e.add(events: 4_500, runNanoseconds: 1_200_000, runs: 4_000)
        XCTAssertEqual(e.nanoseconds, firstWindow + between + secondWindow)
        e.add(events: 5_500, runNanoseconds: 1_200_000, runs: 4_000)
        XCTAssertEqual(e.nanoseconds, firstWindow + between + secondWindow + 1_000 * 600)
        XCTAssertEqual(e.measuredNanoseconds, 1_200_000)
    }

    /// Statistics on all along (someone else's switch): every interval is a window, the estimate
    /// is what was measured.
    func testStatisticsOnAllAlongGiveTheMeasurement() {
        var e = BPFRunTimeEstimate()
        for i in 1...5 { e.add(events: UInt64(i * 100), runNanoseconds: UInt64(i * i * 1_000), runs: UInt64(i * 200)) }
        XCTAssertEqual(e.nanoseconds, 25_000)
        XCTAssertEqual(e.measuredNanoseconds, 25_000)
    }

    /// Before any window there is no rate: nothing is added; a counter that went back (programs
    /// loaded again) starts over from its new value without adding.
    func testNoRateBeforeAWindowAndCountersThatWentBack() {
        var e = BPFRunTimeEstimate()
        e.add(events: 1_000, runNanoseconds: 0, runs: 0)
        XCTAssertEqual(e.nanoseconds, 0)
        e.add(events: 2_000, runNanoseconds: 100_000, runs: 10)
        XCTAssertEqual(e.nanoseconds, 100_000)
        e.add(events: 10, runNanoseconds: 5, runs: 1)
        XCTAssertEqual(e.nanoseconds, 100_000)
        e.add(events: 1_010, runNanoseconds: 5, runs: 1)
        XCTAssertEqual(e.nanoseconds, 100_000 + 1_000 * 100)
    }
}
