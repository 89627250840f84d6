import Foundation

/// The text a scraper reads: OpenMetrics 1.0 (openmetrics.io, "OpenMetrics Text Format"), or
/// the Prometheus text format 0.0.4 for scrapers that do not ask for OpenMetrics. The same
/// samples either way; OpenMetrics adds `# UNIT` and ends with `# EOF`.
public enum Exposition {
    public enum Format: Sendable {
        case openMetrics, prometheus

        public var contentType: String {
            switch self {
            case .openMetrics: return "application/openmetrics-text; version=1.0.0; charset=utf-8"
            case .prometheus: return "text/plain; version=0.0.4; charset=utf-8"
            }
        }

        /// What an HTTP Accept header asks for: OpenMetrics when it names it (Prometheus sends
        /// it first, with the older format at a lower q), else the Prometheus text format.
        public static func negotiated(accept: String?) -> Format {
            guard let accept else { return .prometheus }
            for part in accept.split(separator: ",") {
                let fields = part.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
                let q = fields.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                if fields.first == "application/openmetrics-text", q > 0 { return .openMetrics }
            }
            return .prometheus
        }
    }

    public static func render(_ families: [MetricFamily], format: Format) -> String {
        var out = ""
        out.reserveCapacity(families.reduce(0) { $0 + 64 * ($1.points.count + 1) })
        for family in families where !family.points.isEmpty {
            // Prometheus's text format names a counter by its sample (`_total`); OpenMetrics by its family.
            let typeName = format == .prometheus && family.kind == .counter ? family.name + "_total" : family.name
            out += "# TYPE \(typeName) \(family.kind.rawValue)\n"
            if format == .openMetrics && !family.unit.isEmpty { out += "# UNIT \(family.name) \(family.unit)\n" }
            out += "# HELP \(typeName) \(escapedHelp(family.help, quotes: format == .openMetrics))\n"
            for point in family.points {
                let labels = zip(family.labels, point.labels).map { "\($0)=\"\(escapedLabel($1))\"" }
                func line(_ suffix: String, _ extra: [String], _ value: Double) {
                    let all = labels + extra
                    out +=
                        family.name + suffix + (all.isEmpty ? "" : "{" + all.joined(separator: ",") + "}") + " "
                        + number(value) + "\n"
                }
                switch family.kind {
                case .counter: line("_total", [], point.value)
                case .gauge: line("", [], point.value)
                case .histogram:
                    guard let h = point.histogram else { continue }
                    var cumulative = 0.0
                    for (bound, count) in zip(h.upperBounds, h.counts) {
                        cumulative += count
                        line("_bucket", ["le=\"\(number(bound))\""], cumulative)
                    }
                    line("_sum", [], h.sum)
                    line("_count", [], cumulative)
                }
            }
        }
        if format == .openMetrics { out += "# EOF\n" }
        return out
    }

    /// Whole numbers without a fraction (counts stay exact to 2^53), others as Swift prints a
    /// Double (shortest round-trip form); infinities and NaN as both formats spell them.
    static func number(_ v: Double) -> String {
        if v.isNaN { return "NaN" }
        if v.isInfinite { return v > 0 ? "+Inf" : "-Inf" }
        if v == v.rounded(), abs(v) < 9_007_199_254_740_992 { return String(Int64(v)) }
        return "\(v)"
    }

    /// Label values escape backslash, double quote and newline (both formats).
    static func escapedLabel(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// HELP escapes backslash and newline; OpenMetrics also the double quote.
    static func escapedHelp(_ s: String, quotes: Bool) -> String {
        quotes
            ? escapedLabel(s)
            : s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
    }
}
