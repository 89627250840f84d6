import XCTest
@testable import LockstatCharts
@testable import LockstatCore

final class ChartTests: XCTestCase {
    func wellFormed(_ svg: String) throws -> Bool {
        let dir = temporaryDirectory()
        try svg.write(toFile: dir + "/c.svg", atomically: true, encoding: .utf8)
        return try shell(["python3", "-c", "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])", dir + "/c.svg"]).status == 0
    }

    func testNamesAreEscaped() throws {
        let chart = TimeChart(title: "Wait <&mm->mmap_lock>", yLabel: "wait (µs/s)", time: [0, 1, 2],
                              series: [TimeSeries(name: "&mm->mmap_lock \"R\"", values: [1, 2, nil])])
        let svg = chart.render()
        XCTAssertTrue(svg.contains("&amp;mm-&gt;mmap_lock &quot;R&quot;"))
        XCTAssertFalse(svg.contains("<&mm"))
        XCTAssertTrue(try wellFormed(svg))
    }

    /// A day at 10 Hz: the file stays small because each pixel column keeps only min and max,
    /// and a one-sample spike survives the decimation.
    func testLongRunStaysSmallAndKeepsExtremes() throws {
        let n = 864_000
        let time = (0..<n).map { Double($0) / 10 }
        var values = (0..<n).map { Double?(Double($0 % 7)) }
        values[123_456] = 1000
        let lines = TimeChart(title: "t", yLabel: "y (1/s)", time: time,
                              series: [TimeSeries(name: "a", values: values), TimeSeries(name: "b", values: values.map { $0.map { $0 / 2 } })]).render()
        XCTAssertLessThan(lines.utf8.count, 1_000_000)
        XCTAssertTrue(lines.contains(">1k<") || lines.contains(">1000<"), "the y axis reaches the spike")
        let stacked = TimeChart(title: "t", yLabel: "CPU time (%)", time: time, series: CPUSeries.make(n), stacked: true, yMax: 100).render()
        XCTAssertLessThan(stacked.utf8.count, 1_000_000)
        XCTAssertTrue(try wellFormed(lines))
        XCTAssertTrue(try wellFormed(stacked))
    }

    func testSameSeriesSameColourEverywhere() {
        XCTAssertEqual(Palette.color(for: "wkB/s"), Palette.color(for: "wkB/s"))
        XCTAssertEqual(Palette.color(for: "usr"), "#2ca02c")
        XCTAssertNotEqual(Palette.color(for: "usr"), Palette.color(for: "sys"))
    }

    func testEveryAxisIsLabelled() {
        let svg = TimeChart(title: "x", yLabel: "requests per second (1/s)", time: [0, 1], series: [TimeSeries(name: "r/s", values: [nil, 3])]).render()
        XCTAssertTrue(svg.contains("time since program start (s)"))
        XCTAssertTrue(svg.contains("requests per second (1/s)"))
    }
}

enum CPUSeries {
    static func make(_ n: Int) -> [TimeSeries] {
        [TimeSeries(name: "usr", values: (0..<n).map { Double($0 % 100) }),
         TimeSeries(name: "idle", values: (0..<n).map { 100 - Double($0 % 100) })]
    }
}
