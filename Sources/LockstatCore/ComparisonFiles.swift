import Foundation
import LockstatCharts

/// `compare --output DIR`: compare.json, and per module with call stacks a differential flame
/// graph (B's widths, red where the stack grew against A, blue where it shrank) beside its
/// folded pairs (`stack weightA weightB`, difffolded.pl's format). Weights are each side's
/// mean over its runs, per second of run time unless the comparison is of totals.
public enum ComparisonFiles {
    public static func write(_ c: Comparison, json: String, into path: String) throws {
        let dir = TestDirectory(path)
        try dir.prepareForSet()
        var files = ["compare.json"]
        try dir.write("compare.json", json)
        for (module, name, unit) in stackNames(c) {
            let a = mean(c.a, module, name, perSecond: !c.options.totals), b = mean(c.b, module, name, perSecond: !c.options.totals)
            let keys = Array(Set(a.keys).union(b.keys)).sorted()
            let file = "\(module)_\(name)_diff"
            try dir.write(file + ".difffolded", keys.map { "\($0) \(number(a[$0] ?? 0)) \(number(b[$0] ?? 0))" }.joined(separator: "\n") + "\n")
            let what = (unit == "ns" ? "ns of \(name)" : name) + (c.options.totals ? "" : " per second")
            let graph = FlameGraph(title: "\(module) \(name): B against A", countName: what,
                                   stacks: keys.map { (frames: $0.split(separator: ";").map(String.init), weight: b[$0] ?? 0) },
                                   subtitle: "widths: B (\(c.b.path)); red: grew from A (\(c.a.path)), blue: shrank",
                                   baseline: keys.map { (frames: $0.split(separator: ";").map(String.init), weight: a[$0] ?? 0) })
            try dir.write(file + ".svg", graph.render())
            files += [file + ".difffolded", file + ".svg"]
        }
        try dir.addToManifest(files)
        try Privileges.giveToInvokingUser(dir)
    }

    static func stackNames(_ c: Comparison) -> [(String, String, String)] {
        var names = [(String, String, String)]()
        for run in c.a.runs + c.b.runs {
            for m in run.results {
                for s in m.results.stacks where !names.contains(where: { $0.0 == m.module && $0.1 == s.name }) { names.append((m.module, s.name, s.unit)) }
            }
        }
        return names
    }

    /// Each stack's weight averaged over the side's runs (a run without it counts 0).
    static func mean(_ g: RunGroup, _ module: String, _ name: String, perSecond: Bool) -> [String: Double] {
        var sum = [String: Double]()
        for run in g.runs {
            guard let stacks = run.results.first(where: { $0.module == module })?.results.stacks.first(where: { $0.name == name }) else { continue }
            for s in stacks.folded { sum[s.stack, default: 0] += perSecond ? s.weight / run.seconds : s.weight }
        }
        return sum.mapValues { $0 / Double(max(1, g.runs.count)) }
    }

    static func number(_ v: Double) -> String { String(format: "%.6g", v) }
}
