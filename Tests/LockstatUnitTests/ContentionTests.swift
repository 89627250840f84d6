import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The contention module's pairing of begin and end events, on events made here.
final class ContentionTests: XCTestCase {
    /// Pairing on synthetic events: nested begins, a contention on another lock inside a wait,
    /// an end without a begin, a begin without an end.
    func testPairingPerTaskAndLock() {
        let layout = TracepointLayout(beginID: 1, endID: 2)
        func e(_ type: UInt16, _ tid: UInt32, _ lock: UInt64, _ t: UInt64) -> ContentionEvent {
            ContentionEvent(tid: tid, time: t, cpu: 0, type: type, lockAddress: lock, value: 1, callchain: [])
        }
        let events = [e(2, 9, 0xA, 5), e(1, 7, 0xA, 10), e(1, 7, 0xA, 12), e(1, 7, 0xB, 20), e(2, 7, 0xB, 25), e(2, 7, 0xA, 40), e(1, 8, 0xA, 50)]
        let a = ContentionAnalysis(events: events, layout: layout, symbols: KernelSymbols(""))
        XCTAssertEqual(a.contentions.filter { $0.waited > 0 }.map(\.total), [5, 30], "B inside A; A from its first begin")
        XCTAssertEqual(a.unpaired, 1)
        XCTAssertEqual(a.unfinished, 1)
        XCTAssertEqual(a.contentions.count, 3)
        XCTAssertEqual(ContentionAnalysis.type(1), "spinlock")
        XCTAssertEqual(ContentionAnalysis.type(2 | 1), "rwlock:R")
        XCTAssertEqual(ContentionAnalysis.type(4), "rwsem:W")
        XCTAssertEqual(ContentionAnalysis.type(32), "mutex")
        XCTAssertEqual(Durations.text(seconds: 192_670e-9), "192.67 us")
    }
}
