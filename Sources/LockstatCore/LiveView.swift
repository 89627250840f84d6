import Foundation

/// A module with a live view (`lockstat top`): every interval it reads what happened since the
/// last and gives it as rows; the core draws them (LiveScreen) and names no module.
public protocol LiveModule: LockstatModule {
    /// Why the live view cannot run on this machine with these privileges (nil: it can).
    func liveRefusal(_ system: SystemRoot) -> String?
    /// Loads and attaches what reads the kernel; `scope` says whose events count.
    func live(_ system: SystemRoot, scope: LiveScope) throws -> any LiveSource
}

/// Whose events a live view counts.
public enum LiveScope: Equatable, Sendable {
    case system
    /// These processes and every process they fork from now on.
    case processes([pid_t])
    /// A program lockstat starts: followed with `LiveSource.follow` before it execs.
    case program
}

/// One way to group a live view's rows, chosen by a key (`c` for caller).
public struct LiveGrouping: Equatable, Sendable {
    public let key: Character
    public let name: String
    /// Why this grouping has no rows on this machine (nil: it has).
    public let unavailable: String?

    public init(key: Character, name: String, unavailable: String? = nil) {
        self.key = key
        self.name = name
        self.unavailable = unavailable
    }
}

/// What a live view reads. The core calls it from one thread.
public protocol LiveSource: AnyObject {
    var groupings: [LiveGrouping] { get }
    /// The sort keys a key cycles through, the first the default.
    var sortKeys: [String] { get }
    /// Counts the program `pid` and its descendants (scope `.program`), before it execs.
    func follow(_ pid: pid_t)
    /// Reads what happened since the last call (or since loading); `seconds` is how long that was.
    func advance(seconds: Double)
    /// The last interval's rows grouped by `grouping`, sorted by `sortKeys[sort]`.
    func table(grouping: Character, sort: Int) -> LiveTable
    /// What was counted since loading, in one line (plain mode's last).
    var totalsLine: String { get }
    /// Detaches and frees what loading made.
    func stop()
}

/// One column of a live table. The last column is the key (caller, lock): it takes the width left.
public struct LiveColumn: Equatable, Sendable {
    public let title: String
    public let width: Int
    /// Narrow terminals drop the columns of the highest rank first; 0 is never dropped.
    public let dropRank: Int

    public init(_ title: String, width: Int, dropRank: Int = 0) {
        self.title = title
        self.width = width
        self.dropRank = dropRank
    }
}

/// One interval of a live view: a header line, the table, and the top row's detail (its stack).
public struct LiveTable: Equatable, Sendable {
    public var header: String
    public var columns: [LiveColumn]
    public var rows: [[String]]
    public var detail: [String]

    public init(header: String, columns: [LiveColumn], rows: [[String]], detail: [String] = []) {
        self.header = header
        self.columns = columns
        self.rows = rows
        self.detail = detail
    }
}

/// The drawing of a live table: a pure function of the table and the terminal's size, each line
/// at most `width` characters (narrow terminals drop columns; nothing wraps).
public enum LiveScreen {
    /// The screen's lines (at most `height`): the header, a status line, the column titles, the
    /// rows that fit, and with `detail` the top row's detail below them.
    public static func lines(
        _ table: LiveTable, status: String, detail: Bool, width: Int, height: Int
    ) -> [String] {
        guard width > 0, height > 0 else { return [] }
        let shown = visibleColumns(table.columns, width: width)
        var out = [fit(table.header, width), fit(status, width)]
        guard !table.columns.isEmpty else { return Array(out.prefix(height)) }
        out.append(fit(row(table.columns.map(\.title), table.columns, shown), width))
        let details = detail ? ["", "stack of the top row:"] + table.detail.map { "  " + $0 } : []
        let room = max(0, height - out.count - details.count)
        out += table.rows.prefix(room).map { fit(row($0, table.columns, shown), width) }
        if table.rows.isEmpty && room > 0 { out.append(fit("(nothing in this interval)", width)) }
        out += details.map { fit($0, width) }
        return Array(out.prefix(height))
    }

    /// Plain mode (not a terminal, TERM=dumb, NO_COLOR): the header and every column of the
    /// first `rows` rows, no escape codes; a blank line ends it.
    public static func plain(_ table: LiveTable, rows: Int) -> String {
        let all = Array(table.columns.indices)
        var out = [table.header, row(table.columns.map(\.title), table.columns, all).trailingSpacesRemoved]
        out += table.rows.prefix(rows).map { row($0, table.columns, all).trailingSpacesRemoved }
        return out.joined(separator: "\n") + "\n\n"
    }

    /// The columns kept at `width`: the highest drop rank goes first while the fixed columns and
    /// a key column of at least `minimumKey` characters do not fit.
    static func visibleColumns(_ columns: [LiveColumn], width: Int) -> [Int] {
        var kept = Array(columns.indices)
        func needed() -> Int { kept.dropLast().reduce(0) { $0 + columns[$1].width + 1 } + minimumKey }
        while needed() > width,
            let drop = kept.dropLast().filter({ columns[$0].dropRank > 0 }).max(by: {
                columns[$0].dropRank < columns[$1].dropRank
            })
        {
            kept.removeAll { $0 == drop }
        }
        return kept
    }

    static let minimumKey = 20

    /// The `shown` cells right-aligned in their columns' widths, the last (the key) left-aligned.
    static func row(_ cells: [String], _ columns: [LiveColumn], _ shown: [Int]) -> String {
        shown.enumerated().map { i, c in
            let cell = c < cells.count ? cells[c] : ""
            return i == shown.count - 1 ? cell : pad(cell, columns[c].width)
        }.joined(separator: " ")
    }

    static func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s : String(repeating: " ", count: width - s.count) + s
    }

    /// `line` cut to `width` characters (a terminal would wrap the rest).
    static func fit(_ line: String, _ width: Int) -> String {
        line.count <= width ? line : String(line.prefix(width))
    }
}

/// Several modules' live views as one: each grouping key belongs to the source that offers it
/// first (later duplicates are dropped); every source reads each interval, so switching keys
/// shows the same interval; the first source's sort keys are everyone's.
public final class CombinedLiveSource: LiveSource {
    private let sources: [any LiveSource]
    public let groupings: [LiveGrouping]
    private let owner: [Character: Int]

    public init(_ sources: [any LiveSource]) {
        self.sources = sources
        var groupings = [LiveGrouping]()
        var owner = [Character: Int]()
        for (i, source) in sources.enumerated() {
            for g in source.groupings where owner[g.key] == nil {
                owner[g.key] = i
                groupings.append(g)
            }
        }
        self.groupings = groupings
        self.owner = owner
    }

    public var sortKeys: [String] { sources.first?.sortKeys ?? [] }
    public func follow(_ pid: pid_t) { sources.forEach { $0.follow(pid) } }
    public func advance(seconds: Double) { sources.forEach { $0.advance(seconds: seconds) } }
    public func table(grouping: Character, sort: Int) -> LiveTable {
        sources[owner[grouping] ?? 0].table(grouping: grouping, sort: sort)
    }
    /// Each source's line, the first source's first.
    public var totalsLine: String { sources.map(\.totalsLine).joined(separator: "\n") }
    public func stop() { sources.forEach { $0.stop() } }
}
