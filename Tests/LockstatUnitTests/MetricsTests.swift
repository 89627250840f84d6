import XCTest
@testable import LockstatCore

/// The exposition writer and the series cap, on families made by hand.
final class MetricsTests: XCTestCase {
    func testOpenMetricsAndPrometheusTextOfTheSameFamilies() {
        let h = MetricHistogram(upperBounds: [3e-9, 15e-9, .infinity], counts: [2, 0, 1], sum: 1.5)
        let families = [
            MetricFamily(name: "x_seconds", kind: .counter, unit: "seconds", help: "a \"quoted\" \\ help\nline", labels: ["caller"],
                         points: [MetricPoint(labels: ["a\"b\\c\nd"], value: 2.5)]),
            MetricFamily(name: "x_wait_seconds", kind: .histogram, unit: "seconds", help: "h", labels: ["lock"],
                         points: [MetricPoint(labels: [""], histogram: h)]),
            MetricFamily(name: "x_empty", kind: .gauge, help: "never shown", labels: []),
        ]
        XCTAssertEqual(Exposition.render(families, format: .openMetrics), """
            # TYPE x_seconds counter
            # UNIT x_seconds seconds
            # HELP x_seconds a \\"quoted\\" \\\\ help\\nline
            x_seconds_total{caller="a\\"b\\\\c\\nd"} 2.5
            # TYPE x_wait_seconds histogram
            # UNIT x_wait_seconds seconds
            # HELP x_wait_seconds h
            x_wait_seconds_bucket{lock="",le="3e-09"} 2
            x_wait_seconds_bucket{lock="",le="1.5e-08"} 2
            x_wait_seconds_bucket{lock="",le="+Inf"} 3
            x_wait_seconds_sum{lock=""} 1.5
            x_wait_seconds_count{lock=""} 3
            # EOF

            """)
        let text = Exposition.render(families, format: .prometheus)
        XCTAssertTrue(text.hasPrefix("# TYPE x_seconds_total counter\n# HELP x_seconds_total a \"quoted\" \\\\ help\\nline\n"), text)
        XCTAssertFalse(text.contains("# UNIT") || text.contains("# EOF"))
    }

    func testTheAcceptHeaderPicksTheFormat() {
        let prometheus = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        XCTAssertEqual(Exposition.Format.negotiated(accept: prometheus), .openMetrics)
        XCTAssertEqual(Exposition.Format.negotiated(accept: "text/plain"), .prometheus)
        XCTAssertEqual(Exposition.Format.negotiated(accept: nil), .prometheus)
        XCTAssertEqual(Exposition.Format.negotiated(accept: "application/openmetrics-text;q=0, text/plain"), .prometheus)
    }

    func testNumbersKeepCountsExact() {
        XCTAssertEqual(Exposition.number(9_007_199_254_740_991), "9007199254740991")
        XCTAssertEqual(Exposition.number(0.1), "0.1")
        XCTAssertEqual(Exposition.number(-.infinity), "-Inf")
        XCTAssertEqual(Exposition.number(.nan), "NaN")
    }

    /// Cap 2: the first two rows keep their series (also once the source drops one), later rows
    /// go to `other` by what they gained after first seen, so the total only grows and counts
    /// each event once; a gauge beyond the cap is dropped.
    func testTheCapKeepsRowsAndCountsTheRestOnceInOther() {
        let cap = ExposedSeries(maxSeries: 2)
        func family(_ rows: [(String, Double)]) -> [MetricFamily] {
            [MetricFamily(name: "c", kind: .counter, help: "", labels: ["k"], points: rows.map { MetricPoint(labels: [$0.0], value: $0.1) })]
        }
        func values(_ f: [MetricFamily]) -> [String: Double] { Dictionary(uniqueKeysWithValues: f[0].points.map { ($0.labels[0], $0.value) }) }
        XCTAssertEqual(values(cap.bounded(family([("a", 1), ("b", 2), ("c", 5)]))), ["a": 1, "b": 2, "other": 5])
        XCTAssertEqual(values(cap.bounded(family([("b", 3), ("c", 7), ("d", 1)]))), ["a": 1, "b": 3, "other": 8])
        XCTAssertEqual(values(cap.bounded(family([("c", 6)]))), ["a": 1, "b": 3, "other": 8], "a row that went back adds nothing")
        XCTAssertEqual(cap.rowsBeyondCap, 2)
        let gauges = ExposedSeries(maxSeries: 1).bounded([MetricFamily(name: "g", kind: .gauge, help: "", labels: ["k"],
                                                                       points: [MetricPoint(labels: ["a"], value: 1), MetricPoint(labels: ["b"], value: 2)])])
        XCTAssertEqual(gauges[0].points.map(\.labels), [["a"]])
        let histograms = ExposedSeries(maxSeries: 1)
        let h = { (n: Double) in MetricHistogram(upperBounds: [1, .infinity], counts: [n, 1], sum: n) }
        _ = histograms.bounded([MetricFamily(name: "h", kind: .histogram, help: "", labels: ["k"], points: [MetricPoint(labels: ["a"], histogram: h(1)), MetricPoint(labels: ["b"], histogram: h(2))])])
        let second = histograms.bounded([MetricFamily(name: "h", kind: .histogram, help: "", labels: ["k"], points: [MetricPoint(labels: ["b"], histogram: h(5))])])
        XCTAssertEqual(second[0].points.last?.labels, ["other"])
        XCTAssertEqual(second[0].points.last?.histogram?.counts, [5, 1], "b's first reading (2, 1) and then its gain (3, 0)")
    }
}
