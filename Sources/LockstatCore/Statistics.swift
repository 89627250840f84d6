import Foundation

/// What `compare` needs to tell a change from noise, distribution-free (as benchstat does):
/// medians, their confidence intervals, the Mann–Whitney U test and Holm's correction.
public enum Statistics {
    public static func median(_ values: [Double]) -> Double {
        let v = values.sorted()
        guard !v.isEmpty else { return .nan }
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// The distribution-free 95 % confidence interval of the median: the order statistics
    /// x(k) and x(n+1−k) with k the largest for which P(Bin(n, ½) < k) ≤ 2.5 %; nil below 6
    /// values, where no such k exists.
    public static func medianInterval(_ values: [Double], confidence: Double = 0.95) -> (low: Double, high: Double)? {
        let v = values.sorted()
        let n = v.count
        guard n >= 6 else { return nil }
        var k = 0
        var tail = 0.0
        while k < n {
            let next = tail + binomial(n, k) / pow(2, Double(n))
            if next > (1 - confidence) / 2 { break }
            tail = next
            k += 1
        }
        guard k >= 1 else { return nil }
        return (v[k - 1], v[n - k])
    }

    static func binomial(_ n: Int, _ k: Int) -> Double {
        var r = 1.0
        for i in 0..<k { r = r * Double(n - i) / Double(i + 1) }
        return r
    }

    /// The two-sided p-value of the Mann–Whitney U test of a against b: exact (the U
    /// distribution counted over every arrangement) when there are no ties and both sides have
    /// at most 50 values, else the normal approximation with the tie correction and a
    /// continuity correction. nil when either side is empty.
    public static func mannWhitneyP(_ a: [Double], _ b: [Double]) -> Double? {
        let n1 = a.count
        let n2 = b.count
        guard n1 > 0, n2 > 0 else { return nil }
        // Ranks of the pooled values, ties sharing their mean rank.
        let pooled = (a.map { ($0, 0) } + b.map { ($0, 1) }).sorted { $0.0 < $1.0 }
        var ranks = [Double](repeating: 0, count: pooled.count)
        var tieTerm = 0.0
        var hasTies = false
        var i = 0
        while i < pooled.count {
            var j = i
            while j + 1 < pooled.count && pooled[j + 1].0 == pooled[i].0 { j += 1 }
            let t = Double(j - i + 1)
            if t > 1 {
                hasTies = true
                tieTerm += t * t * t - t
            }
            for k in i...j { ranks[k] = Double(i + j + 2) / 2 }
            i = j + 1
        }
        let rankSumA = zip(pooled, ranks).filter { $0.0.1 == 0 }.reduce(0) { $0 + $1.1 }
        let u = rankSumA - Double(n1 * (n1 + 1)) / 2
        let mean = Double(n1 * n2) / 2
        if !hasTies && n1 <= 50 && n2 <= 50 {
            // P(U ≤ u) and P(U ≥ u) from the count of arrangements with each U.
            let counts = uDistribution(n1, n2)
            let total = counts.reduce(0, +)
            let k = Int(u.rounded())
            let low = counts[0...k].reduce(0, +) / total
            let high = counts[k...].reduce(0, +) / total
            return min(1, 2 * min(low, high))
        }
        let n = Double(n1 + n2)
        let variance = Double(n1 * n2) / 12 * ((n + 1) - tieTerm / (n * (n - 1)))
        guard variance > 0 else { return 1 }
        let z = (abs(u - mean) - 0.5) / variance.squareRoot()
        return min(1, erfc(max(0, z) / 2.0.squareRoot()))
    }

    /// How many arrangements of n1 + n2 distinct values give each U = 0 … n1·n2 (the recurrence
    /// f(n1, n2, u) = f(n1 − 1, n2, u − n2) + f(n1, n2 − 1, u)).
    static func uDistribution(_ n1: Int, _ n2: Int) -> [Double] {
        // table[j][u]: counts for (i, j) as i grows from 0 to n1.
        var table = (0...n2).map { _ in [1.0] }
        for i in 1...max(1, n1) where n1 > 0 {
            var next = [[Double]](repeating: [], count: n2 + 1)
            next[0] = [1.0]
            for j in 1...max(1, n2) where n2 > 0 {
                var row = [Double](repeating: 0, count: i * j + 1)
                for (u, c) in next[j - 1].enumerated() { row[u] += c }
                for (u, c) in table[j].enumerated() where u + j < row.count { row[u + j] += c }
                next[j] = row
            }
            table = next
        }
        return table[n2]
    }

    /// Holm's step-down correction: adjusted p-values in the given order (nil stays nil), so
    /// comparing each with α controls the family-wise error over all of them.
    public static func holm(_ p: [Double?]) -> [Double?] {
        let present = p.enumerated().compactMap { i, v in v.map { (i, $0) } }.sorted { $0.1 < $1.1 }
        var adjusted = [Double?](repeating: nil, count: p.count)
        var running = 0.0
        for (rank, (i, value)) in present.enumerated() {
            running = max(running, min(1, value * Double(present.count - rank)))
            adjusted[i] = running
        }
        return adjusted
    }

    /// The smallest two-sided p the exact test can give with n1 and n2 values (all of one side
    /// above all of the other): 2 / C(n1 + n2, n1).
    public static func smallestP(_ n1: Int, _ n2: Int) -> Double { min(1, 2 / binomial(n1 + n2, n1)) }
}
