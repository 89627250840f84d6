import LockstatCharts

/// Big machines: beyond `threshold` CPUs or active devices the per-row charts give way to a
/// heat map of all of them and a line chart of the `top` busiest.
enum ManyRows {
    static let threshold = 16, top = 8

    /// The `top` series with the highest mean, busiest first.
    static func busiest(_ series: [TimeSeries]) -> [TimeSeries] {
        func mean(_ s: TimeSeries) -> Double {
            var sum = 0.0
            var count = 0
            for v in s.values where !v.isNaN {
                sum += v
                count += 1
            }
            return count == 0 ? 0 : sum / Double(count)
        }
        return Array(series.map { ($0, mean($0)) }.sorted { $0.1 > $1.1 }.prefix(top).map(\.0))
    }
}
