import Foundation
import LockstatCore

/// `lockstat report DIR`: the top lock classes over the run as a terminal table.
public struct LockStatReport {
    public static let sortKeys = ["wait-total", "contentions", "wait-max", "wait-avg", "acquisitions", "hold-total", "hold-avg", "name"]

    struct Row {
        var name: String
        var contentions: Double, waitTotal: Double, waitMax: Double, acquisitions: Double, holdTotal: Double
        var sites: [String]
        var waitAvg: Double { contentions > 0 ? waitTotal / contentions : 0 }
        var holdAvg: Double { acquisitions > 0 ? holdTotal / acquisitions : 0 }
    }

    let rows: [Row]

    /// From the lock_stat entry of samples.pickle.
    public init(data: PyValue) {
        let classes = data["classes"]
        rows = (data["top"]?.listItems ?? []).compactMap { r in
            guard let name = r["class"]?.string else { return nil }
            let cls = classes?[name]
            // The largest wait either side saw, as printed in the last sample (µs).
            let waitMax = ["write", "read"].compactMap { cls?[$0]?["waittime-max"]?.series?.last ?? nil }.max() ?? 0
            let sites = (cls?["contention_points"]?.listItems ?? []).prefix(2).map {
                "\($0["symbol"]?.string ?? "?") (\(Int($0["count"]?.number ?? 0)))"
            }
            return Row(name: name, contentions: r["contentions"]?.number ?? 0, waitTotal: r["waittime-total"]?.number ?? 0,
                       waitMax: waitMax, acquisitions: r["acquisitions"]?.number ?? 0,
                       holdTotal: r["holdtime-total"]?.number ?? 0, sites: Array(sites))
        }
    }

    public func render(sort: String, top: Int) throws -> String {
        let key: (Row) -> Double
        switch sort {
        case "wait-total": key = \.waitTotal
        case "contentions": key = \.contentions
        case "wait-max": key = \.waitMax
        case "wait-avg": key = \.waitAvg
        case "acquisitions": key = \.acquisitions
        case "hold-total": key = \.holdTotal
        case "hold-avg": key = \.holdAvg
        case "name": key = { _ in 0 }
        default:
            throw LockstatError.usage("--sort: unknown key '\(sort)'; one of " + Self.sortKeys.joined(separator: ", "))
        }
        let sorted = rows.sorted { sort == "name" ? $0.name < $1.name : (key($0), $1.name) > (key($1), $0.name) }.prefix(top)
        let header = ["contended", "total wait", "max wait", "avg wait", "acquired", "total hold", "avg hold", "class", "top contention points"]
        var lines = [header]
        for r in sorted {
            lines.append([String(Int(r.contentions)), duration(r.waitTotal), duration(r.waitMax), duration(r.waitAvg),
                          String(Int(r.acquisitions)), duration(r.holdTotal), duration(r.holdAvg), r.name, r.sites.joined(separator: ", ")])
        }
        // Right-align the numbers, left-align the names, as perf lock does.
        let widths = header.indices.map { k in lines.map { $0[k].count }.max() ?? 0 }
        return lines.map { cells in
            cells.enumerated().map { k, c in
                k < 7 ? String(repeating: " ", count: widths[k] - c.count) + c
                      : (k == 8 ? c : c + String(repeating: " ", count: widths[k] - c.count))
            }.joined(separator: "  ")
        }.joined(separator: "\n") + "\n"
    }

    /// µs as perf prints durations: auto-scaled to us, ms or s.
    func duration(_ us: Double) -> String {
        if us >= 1e6 { return String(format: "%.2f s", us / 1e6) }
        if us >= 1e3 { return String(format: "%.2f ms", us / 1e3) }
        return String(format: "%.2f us", us)
    }
}
