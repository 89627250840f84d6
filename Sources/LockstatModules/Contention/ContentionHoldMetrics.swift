import CLockstat
import LockstatCore

/// contention.wakers in serve: hold under contention since lockstat started (from taking a
/// sleeping lock after a wait to waking its next waiter; uncontended holds are not seen), as one
/// histogram family by the holder's caller, lock type and lock, bucketed as the waits' family.
/// The kernel's hold map only grows, so each scrape sets the rows from it whole; which rows are
/// kept apart (the first `maxRows` seen) never changes, so every series only grows.
struct HoldTotals {
    static let name = "lockstat_lock_hold_under_contention_seconds"
    private var kept: [ContentionTotals.RowKey] = []
    private var keptSet = Set<ContentionTotals.RowKey>()
    private var rows: [ContentionTotals.RowKey: (buckets: [UInt64], count: UInt64, total: UInt64)] = [:]
    private let maxRows: Int

    init(maxRows: Int = .max) { self.maxRows = maxRows }

    /// Forgets the values (not which rows are kept apart): the caller sets them all again.
    mutating func clear() { rows.removeAll(keepingCapacity: true) }

    /// The row holds beyond `maxRows` rows go to (holds carry no cgroup label).
    static let other = ContentionTotals.RowKey(
        caller: ExposedSeries.otherLabel, type: ExposedSeries.otherLabel, lock: ExposedSeries.otherLabel)

    mutating func add(_ wanted: ContentionTotals.RowKey, count: UInt64, total: UInt64, buckets: [UInt32]) {
        var key = wanted
        if !keptSet.contains(key) {
            if kept.count < maxRows {
                kept.append(key)
                keptSet.insert(key)
            } else {
                key = Self.other
            }
        }
        var row = rows[key] ?? (Array(repeating: 0, count: ContentionTotals.pairs), 0, 0)
        row.count += count
        row.total += total
        for (i, n) in buckets.enumerated() { row.buckets[min(i / 2, ContentionTotals.pairs - 1)] += UInt64(n) }
        rows[key] = row
    }

    var families: [MetricFamily] {
        var hold = MetricFamily(
            name: Self.name, kind: .histogram, unit: "seconds",
            help:
                "Hold under contention (a sleeping lock taken after a wait, until its holder woke the next waiter; uncontended holds are not seen) by the holder's caller, lock type and named lock since lockstat started; _count is holds, _sum their time (contention.wakers yes)",
            labels: ["caller", "type", "lock"])
        for key in kept + (rows[Self.other] == nil ? [] : [Self.other]) {
            guard let r = rows[key] else { continue }
            hold.points.append(
                MetricPoint(
                    labels: [key.caller, key.type, key.lock],
                    histogram: MetricHistogram(
                        upperBounds: ContentionTotals.upperBounds, counts: r.buckets.map { Double($0) },
                        sum: Double(r.total) / 1e9)))
        }
        return [hold]
    }
}
