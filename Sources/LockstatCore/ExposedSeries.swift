/// What `lockstat serve` exposes of each family over the life of the process: a row, once
/// exposed, keeps its series (with its last value when the source no longer has it), at most
/// `maxSeries` rows per family are ever exposed, and what rows beyond them gain from then on is
/// counted in one row whose labels are all `other`. So every series only grows, a scrape stays
/// small whatever the kernel does, and `sum(increase(...))` counts each event once.
public final class ExposedSeries {
    public static let otherLabel = "other"
    private struct State {
        var index: [[String]: Int] = [:]
        var points: [MetricPoint] = []
        /// Rows beyond the cap: their value when last seen, so `other` gains only what they gained.
        var beyond: [[String]: MetricPoint] = [:]
        var other: MetricPoint?
    }
    private var states: [String: State] = [:]
    public let maxSeries: Int

    public init(maxSeries: Int) { self.maxSeries = max(1, maxSeries) }

    /// Rows over the cap seen so far, in all families (a number for lockstat's own family).
    public var rowsBeyondCap: Int { states.values.reduce(0) { $0 + $1.beyond.count } }

    public func bounded(_ families: [MetricFamily]) -> [MetricFamily] {
        families.map { family in
            var state = states[family.name] ?? State()
            for point in family.points {
                if let i = state.index[point.labels] {
                    state.points[i] = point
                } else if state.points.count < maxSeries {
                    state.index[point.labels] = state.points.count
                    state.points.append(point)
                } else if family.kind != .gauge {
                    // A gauge's value beyond the cap is dropped: gauges do not add up.
                    add(point, since: state.beyond[point.labels], to: &state.other, labels: family.labels.count)
                    state.beyond[point.labels] = point
                }
            }
            states[family.name] = state
            var out = family
            out.points = state.points + (state.other.map { [$0] } ?? [])
            return out
        }
    }

    private func add(_ point: MetricPoint, since earlier: MetricPoint?, to other: inout MetricPoint?, labels: Int) {
        let names = Array(repeating: Self.otherLabel, count: labels)
        if let h = point.histogram {
            let gained = h.gain(since: earlier?.histogram)
            if var o = other?.histogram {
                o.add(gained)
                other = MetricPoint(labels: names, histogram: o)
            } else {
                other = MetricPoint(labels: names, histogram: gained)
            }
        } else {
            let gained = max(0, point.value - (earlier?.value ?? 0))
            other = MetricPoint(labels: names, value: (other?.value ?? 0) + gained)
        }
    }
}
