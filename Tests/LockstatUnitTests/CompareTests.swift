import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// compare's statistics on values worked out by hand (compare of real runs is in the system tier).
final class CompareTests: XCTestCase {
    /// The statistics against values worked out by hand (and scipy's exact test).
    func testMannWhitneyHolmAndTheMedianInterval() {
        XCTAssertEqual(Statistics.mannWhitneyP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10])!, 2.0 / 252, accuracy: 1e-12)
        XCTAssertEqual(Statistics.smallestP(5, 5), 2.0 / 252, accuracy: 1e-12)
        // scipy.stats.mannwhitneyu([1,3,5,7], [2,4,6,8,10], method="exact"): U = 6, p = 0.4127.
        XCTAssertEqual(Statistics.mannWhitneyP([1, 3, 5, 7], [2, 4, 6, 8, 10])!, 0.41269841, accuracy: 1e-6)
        XCTAssertEqual(Statistics.mannWhitneyP([1, 2, 3], [1, 2, 3])!, 1, accuracy: 1e-9)
        XCTAssertEqual(Statistics.holm([0.01, 0.04, nil, 0.03]).map { $0 ?? -1 }, [0.03, 0.06, -1, 0.06])
        XCTAssertNil(Statistics.medianInterval([1, 2, 3, 4, 5]))
        // n = 10: k = 2 (P(Bin(10, ½) ≤ 1) = 1.07 %; ≤ 2 is 5.5 %): the 2nd and 9th values.
        XCTAssertEqual(Statistics.medianInterval((1...10).map(Double.init)).map { [$0.low, $0.high] }, [2, 9])
    }
}
