/// Totals as metric families, for `lockstat serve` and `lockstat export --format openmetrics`:
/// every value counts from the moment lockstat started looking (presampling), so a counter
/// starts at 0 with the process that exposes it, as an exporter's own counters do.
public struct MetricFamily: Sendable {
    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// The family's name without `_total`; ends in its unit when it has one (OpenMetrics asks it).
    public var name: String
    public var kind: Kind
    /// A base unit (`seconds`, `bytes`) or empty.
    public var unit: String
    public var help: String
    public var labels: [String]
    public var points: [MetricPoint]

    public init(name: String, kind: Kind, unit: String = "", help: String, labels: [String], points: [MetricPoint] = [])
    {
        self.name = name
        self.kind = kind
        self.unit = unit
        self.help = help
        self.labels = labels
        self.points = points
    }
}

/// One series: label values in the family's label order, and a value or a histogram.
public struct MetricPoint: Sendable {
    public var labels: [String]
    public var value: Double
    public var histogram: MetricHistogram?

    public init(labels: [String], value: Double) {
        self.labels = labels
        self.value = value
        histogram = nil
    }

    public init(labels: [String], histogram: MetricHistogram) {
        self.labels = labels
        value = histogram.count
        self.histogram = histogram
    }
}

/// Counts per bucket (not cumulative) with each bucket's inclusive upper bound; the last
/// bucket is +Inf. `sum` is in the family's unit.
public struct MetricHistogram: Sendable {
    public var upperBounds: [Double]
    public var counts: [Double]
    public var sum: Double

    public init(upperBounds: [Double], counts: [Double], sum: Double) {
        precondition(upperBounds.count == counts.count && upperBounds.last == .infinity)
        self.upperBounds = upperBounds
        self.counts = counts
        self.sum = sum
    }

    public var count: Double { counts.reduce(0, +) }

    /// What `other` gained over `earlier` (both of the same buckets); never below zero.
    func gain(since earlier: MetricHistogram?) -> MetricHistogram {
        guard let earlier else { return self }
        return MetricHistogram(
            upperBounds: upperBounds, counts: zip(counts, earlier.counts).map { max(0, $0 - $1) },
            sum: max(0, sum - earlier.sum))
    }

    mutating func add(_ other: MetricHistogram) {
        for i in counts.indices where i < other.counts.count { counts[i] += other.counts[i] }
        sum += other.sum
    }
}
