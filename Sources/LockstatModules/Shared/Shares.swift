/// A bar chart's entries for shares of a whole: the largest `shown` rows, then the rest as one
/// "others" bar, so the bars still add up to the whole.
enum Shares {
    /// `values` as percent of their sum, or as they are when they are percentages already.
    static func topAndOthers(
        _ values: [(name: String, value: Double)], shown: Int = 15, alreadyPercent: Bool = false
    ) -> [(name: String, value: Double)] {
        let sorted = values.filter { $0.value > 0 }.sorted { $0.value > $1.value }
        let total = alreadyPercent ? 100 : sorted.reduce(0) { $0 + $1.value }
        guard total > 0 else { return [] }
        let scale = 100 / total
        var entries = sorted.prefix(shown).map { (name: $0.name, value: $0.value * scale) }
        let rest = sorted.dropFirst(shown).reduce(0) { $0 + $1.value }
        if rest > 0 { entries.append((name: "others", value: rest * scale)) }
        return entries
    }
}
