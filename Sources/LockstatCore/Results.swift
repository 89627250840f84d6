@_exported import LockstatColumns

/// A module's results in the one form the core reads for every generic output — `report`, and
/// what grows on it — without knowing the module: tables of rows and series over time.
public struct Results: Sendable {
    public var tables: [ResultTable]
    /// Seconds since the run's start; every series is aligned with it.
    public var time: Column
    public var series: [ResultSeries]
    /// Lines shown above the module's tables: what the module saw and what it cost.
    public var notes: [String]
    /// Call stacks and what they weigh (flame graphs; compare's differential ones).
    public var stacks: [ResultStacks]

    public init(
        tables: [ResultTable] = [], time: Column = Column(), series: [ResultSeries] = [], notes: [String] = [],
        stacks: [ResultStacks] = []
    ) {
        self.tables = tables
        self.time = time
        self.series = series
        self.notes = notes
        self.stacks = stacks
    }

    public init(
        tables: [ResultTable] = [], time: [Double], series: [ResultSeries] = [], notes: [String] = [],
        stacks: [ResultStacks] = []
    ) {
        self.init(tables: tables, time: Column(time), series: series, notes: notes, stacks: stacks)
    }
}

/// Folded call stacks (`root;…;leaf`, FlameGraph's format) with their weights over the run.
public struct ResultStacks: Sendable {
    /// "wait", "samples".
    public let name: String
    /// The weights' unit: "ns", "1".
    public let unit: String
    public let folded: [(stack: String, weight: Double)]

    public init(name: String, unit: String, folded: [(stack: String, weight: Double)]) {
        self.name = name
        self.unit = unit
        self.folded = folded
    }
}

/// Rows, each named by its label columns (a lock class, a caller and its lock type) and
/// measured by its metric columns.
public struct ResultTable: Sendable {
    /// Unique within the module: "classes", "callers".
    public let name: String
    /// `report --by` picks one table of those with a grouping ("caller", "lock"); a table
    /// without one is always shown.
    public let grouping: String?
    public let metrics: [ResultColumn]
    /// Text columns after the metrics, in the order the report prints them: ["type", "caller"].
    public let labels: [String]
    /// The labels that name a row, by index into `labels`, most telling first: a row is the same
    /// row in another run when these are equal (contention: caller, then type; lock_stat: the
    /// class, not its call sites, whose counts change).
    public let identity: [Int]
    /// The metric the table is ranked by unless told otherwise (its main metric).
    public let defaultSort: String
    public var rows: [ResultRow]
    /// Why a table can be empty, said where it is ("owners are recorded in bpf mode").
    public let whenEmpty: String?
    /// Whether a row is the same row in another run: not when rows are named by task ids.
    public let comparable: Bool
    /// Whether `report` prints it: it lists what ranks (locks, symbols, drop-ins' tables);
    /// CPU and disks over the run are for compare.
    public let reported: Bool

    public init(
        name: String, grouping: String? = nil, metrics: [ResultColumn], labels: [String], identity: [Int] = [0],
        defaultSort: String,
        rows: [ResultRow] = [], whenEmpty: String? = nil, comparable: Bool = true, reported: Bool = true
    ) {
        precondition(metrics.contains { $0.name == defaultSort }, "\(name): default sort \(defaultSort) is no metric")
        precondition(
            identity.allSatisfy(labels.indices.contains) || labels.isEmpty, "\(name): identity outside the labels")
        self.name = name
        self.grouping = grouping
        self.metrics = metrics
        self.labels = labels
        self.identity = labels.isEmpty ? [] : identity
        self.defaultSort = defaultSort
        self.rows = rows
        self.whenEmpty = whenEmpty
        self.comparable = comparable
        self.reported = reported
    }

    /// The metric `key` names (its name or an alias; `-` and `_` alike), if the table has it.
    public func metric(_ key: String) -> Int? {
        let wanted = ResultColumn.spelling(key)
        return metrics.firstIndex { ([$0.name] + $0.aliases).contains { ResultColumn.spelling($0) == wanted } }
    }
}

public struct ResultRow: Sendable, Equatable {
    /// Equal labels and values, a missing value (NaN) equal to a missing one.
    public static func == (a: ResultRow, b: ResultRow) -> Bool {
        a.labels == b.labels && a.values.count == b.values.count
            && zip(a.values, b.values).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }
    }

    /// In `labels` order.
    public var labels: [String]

    /// What names the row in `table` (its identity labels).
    public func key(in table: ResultTable) -> [String] { table.identity.map { labels[$0] } }
    /// In `metrics` order; NaN where the row has no value.
    public var values: [Double]

    public init(labels: [String], values: [Double]) {
        self.labels = labels
        self.values = values
    }
}

/// A metric column: what it counts, in which unit, and which way is worse.
public struct ResultColumn: Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        /// Events over the run (contentions, samples): a sum, 0 where a row is missing.
        case count
        /// A duration over the run (a total wait): a sum.
        case time
        /// Per second.
        case rate
        case percent
        /// A level (a queue length, the longest wait): never summed.
        case gauge
    }

    public enum Worse: String, Sendable, CaseIterable {
        case higher, lower, neither
    }

    /// The sort key: "wait_total".
    public let name: String
    /// Other keys that sort by it ("contentions" for "contended").
    public let aliases: [String]
    /// The column heading: "total wait".
    public let title: String
    /// The unit of the stored values.
    public let measure: MetricUnit
    /// The unit as written in reports, CSV headers and JSON: "ns", "us", "s", "1" (a count), "%", "1/s", "kB/s".
    public var unit: String { measure.text }
    public let kind: Kind
    public let worse: Worse

    public init(
        _ name: String, _ title: String, unit: String, kind: Kind, worse: Worse = .higher, aliases: [String] = []
    ) {
        self.name = name
        self.title = title
        self.measure = MetricUnit(unit)
        self.kind = kind
        self.worse = worse
        self.aliases = aliases
    }

    static func spelling(_ key: String) -> String { key.lowercased().replacingOccurrences(of: "-", with: "_") }
}

/// The unit of a metric's values, from its text ("ns", "1"), which it gives back unchanged.
public enum MetricUnit: Equatable, Sendable {
    /// "1": things counted.
    case count
    /// "": a drop-in module's column declared without a unit.
    case unspecified
    case nanoseconds, microseconds, milliseconds, seconds
    /// "%".
    case percent
    /// Any other unit ("1/s", "kB/s"), as written.
    case other(String)

    static let spelled: [(text: String, unit: MetricUnit)] = [
        ("1", .count), ("", .unspecified), ("ns", .nanoseconds), ("us", .microseconds), ("ms", .milliseconds),
        ("s", .seconds), ("%", .percent),
    ]

    public init(_ text: String) { self = Self.spelled.first { $0.text == text }?.unit ?? .other(text) }

    public var text: String {
        if case .other(let text) = self { return text }
        return Self.spelled.first { $0.unit == self }!.text
    }
}

/// One quantity over time, aligned with `Results.time`; NaN where there is no value.
public struct ResultSeries: Sendable {
    public let name: String
    public let unit: String
    public var values: Column

    public init(name: String, unit: String, values: Column) {
        self.name = name
        self.unit = unit
        self.values = values
    }

    public init(name: String, unit: String, values: [Double]) {
        self.init(name: name, unit: unit, values: Column(values))
    }
}
