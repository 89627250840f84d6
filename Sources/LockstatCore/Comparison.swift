import Foundation

/// `lockstat compare A B`, over the generic tables alone: for every row of every table in either
/// side, A's and B's value of one metric in each run, their medians, the change, and — with
/// enough runs a side — whether it is more than noise (Mann–Whitney U, Holm-corrected over the
/// rows of the table).
public struct Comparison {
    public struct Options {
        public var alpha = 0.05
        /// Sums over the run instead of per second of the program's run time.
        public var totals = false
        /// The metric to compare where a table has it (else the table's main one).
        public var metric: String?

        public init() {}
    }

    public struct Row {
        /// The row's identity labels (`ResultTable.identity`).
        public let labels: [String]
        public let a: [Double], b: [Double]
        public let medianA: Double, medianB: Double
        public let intervalA: (low: Double, high: Double)?, intervalB: (low: Double, high: Double)?
        /// Holm-adjusted; nil when a side has fewer than `Comparison.minimumRuns` runs.
        public var p: Double?
        public var significant: Bool
        /// B − A.
        public var delta: Double { medianB - medianA }
        /// In percent of A; infinite for a row new in B.
        public var change: Double { medianA != 0 ? delta / abs(medianA) * 100 : (delta == 0 ? 0 : .infinity) }
    }

    public struct Table {
        public let module: String
        public let name: String
        public let column: ResultColumn
        /// Values divided by each run's program time (counts and times, without --totals).
        public let perSecond: Bool
        /// Most important first: significant rows, then by the size of the change.
        public let rows: [Row]
        /// Per row that shrank, the rows that grew the most ("wait moved to").
        public func movedTo(_ row: Row, limit: Int = 3) -> [Row] {
            guard row.delta < 0 else { return [] }
            return rows.filter { $0.delta > 0 }.sorted { $0.delta > $1.delta }.prefix(limit).map { $0 }
        }
    }

    /// Runs a side needs for a p-value.
    public static let minimumRuns = 3

    public let a: RunGroup, b: RunGroup
    public let options: Options
    public let tables: [Table]

    public init(_ a: RunGroup, _ b: RunGroup, options: Options = Options()) {
        self.a = a
        self.b = b
        self.options = options
        var tables = [Table]()
        for (module, schema) in Self.schemas(a.runs + b.runs) {
            let name = schema.name
            let k = options.metric.flatMap(schema.metric) ?? schema.metric(schema.defaultSort)!
            let column = schema.metrics[k]
            let perSecond = !options.totals && (column.kind == .count || column.kind == .time)
            var keys = [[String]]()
            var seen = Set<[String]>()
            for run in a.runs + b.runs {
                guard let table = run.table(module, name) else { continue }
                for row in table.rows where seen.insert(row.key(in: table)).inserted { keys.append(row.key(in: table)) }
            }
            /// One run's value of a row: missing counts and times are 0 there, other kinds no value.
            func values(_ runs: [RunGroup.Run], _ labels: [String]) -> [Double] {
                runs.map { run -> Double in
                    let table = run.table(module, name)
                    let v =
                        table.flatMap { t in t.rows.first { $0.key(in: t) == labels } }?.values[k]
                        ?? (column.kind == .count || column.kind == .time ? 0 : .nan)
                    return perSecond ? v / run.seconds : v
                }.filter { !$0.isNaN }
            }
            // A row that is 0 in every run of both sides (a symbol listed, never sampled) says
            // nothing, and would only widen Holm's family.
            var rows = keys.compactMap { labels -> Row? in
                let va = values(a.runs, labels)
                let vb = values(b.runs, labels)
                guard (va + vb).contains(where: { $0 != 0 }) else { return nil }
                let p =
                    va.count >= Self.minimumRuns && vb.count >= Self.minimumRuns ? Statistics.mannWhitneyP(va, vb) : nil
                return Row(
                    labels: labels, a: va, b: vb, medianA: Statistics.median(va), medianB: Statistics.median(vb),
                    intervalA: Statistics.medianInterval(va), intervalB: Statistics.medianInterval(vb), p: p,
                    significant: false)
            }
            for (i, adjusted) in Statistics.holm(rows.map(\.p)).enumerated() {
                rows[i].p = adjusted
                rows[i].significant = (adjusted ?? 1) < options.alpha && rows[i].delta != 0
            }
            rows.sort { x, y in
                if x.significant != y.significant { return x.significant }
                let dx = abs(x.delta.nanAsZero)
                let dy = abs(y.delta.nanAsZero)
                return dx != dy ? dx > dy : x.labels.lexicographicallyPrecedes(y.labels)
            }
            tables.append(Table(module: module, name: name, column: column, perSecond: perSecond, rows: rows))
        }
        self.tables = tables
    }

    /// The tables a comparison of `runs` compares, each as the first run that has it lays it out.
    public static func schemas(_ runs: [RunGroup.Run]) -> [(module: String, table: ResultTable)] {
        tableNames(runs).compactMap { module, name in
            guard let schema = runs.lazy.compactMap({ $0.table(module, name) }).first, schema.comparable else {
                return nil
            }
            return (module, schema)
        }
    }

    static func tableNames(_ runs: [RunGroup.Run]) -> [(String, String)] {
        var names = [(String, String)]()
        for run in runs {
            for m in run.results {
                for t in m.results.tables where !names.contains(where: { $0 == (m.module, t.name) }) {
                    names.append((m.module, t.name))
                }
            }
        }
        return names
    }

    /// Rows of the compared metric that got significantly worse in B (its `worse` direction).
    public var regressions: [(table: Table, row: Row)] {
        tables.flatMap { t in
            t.rows.filter { r in
                r.significant
                    && (t.column.worse == .higher ? r.delta > 0 : t.column.worse == .lower ? r.delta < 0 : false)
            }.map { (t, $0) }
        }
    }

    /// Why nothing can be significant, when that follows from the runs per side alone.
    public var tooFewRuns: String? {
        let na = a.runs.count
        let nb = b.runs.count
        if na < Self.minimumRuns || nb < Self.minimumRuns {
            return
                "significance needs at least \(Self.minimumRuns) runs a side (A has \(na), B \(nb)): changes are shown without p-values; run --repeat 10 for each side"
        }
        let smallest = Statistics.smallestP(na, nb)
        let rows = tables.map { $0.rows.count }.max() ?? 0
        if smallest * Double(max(1, rows)) >= options.alpha {
            return String(
                format:
                    "with %d and %d runs the smallest possible p is %.4f: after Holm over %d rows nothing can be significant at α = %g; run ≥ 10 a side",
                na, nb, smallest, rows, options.alpha)
        }
        return nil
    }

    /// What differs between the sides' runs that a reader should know: kernel, CPUs, config.
    public var differences: [String] {
        func value(_ group: RunGroup, _ key: (RunMetadata) -> (any CustomStringConvertible)?) -> String {
            Set(group.runs.map { key($0.metadata)?.description ?? "?" }).sorted().joined(separator: ", ")
        }
        let keys: [((RunMetadata) -> (any CustomStringConvertible)?, String)] = [
            (\.kernelRelease, "kernels"), (\.cpus, "CPU counts"), (\.cpuModel, "CPU models"), (\.config, "configs"),
        ]
        return keys.compactMap { key, what in
            let x = value(a, key)
            let y = value(b, key)
            return x == y
                ? nil
                : "different \(what): A \(x.replacingOccurrences(of: "\n", with: "; ")), B \(y.replacingOccurrences(of: "\n", with: "; "))"
        }
    }
}

extension RunGroup.Run {
    func table(_ module: String, _ name: String) -> ResultTable? {
        results.first { $0.module == module }?.results.tables.first { $0.name == name }
    }
}

extension Double {
    var nanAsZero: Double { isNaN ? 0 : self }
}
