import ArgumentParser
import Foundation
import LockstatCore
import LockstatModules

struct CompareCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract:
            "Did it change? Every table row of two runs or repeat sets (run --repeat N): A, B, the change, and whether it is more than noise."
    )

    @Argument(help: "The baseline: a test directory or a repeat set.") var a: String
    @Argument(help: "The other side: a test directory or a repeat set.") var b: String

    @Option(help: "Rows per table.") var top = 10
    @Option(help: "Significance level (after Holm's correction).") var alpha = 0.05
    @Flag(help: "Counts and times as sums over each run, not per second of the program's run time.") var totals = false
    @Option(
        help: ArgumentHelp(
            "Compare this metric where a table has it (default: each table's main one).", valueName: "key")) var metric:
        SortKey?
    @Flag(help: "ASCII only, for mail clients.") var ascii = false
    @Option(help: "text (80 columns, for a patch mail), json or csv.") var format: Format = .text
    @Option(help: ArgumentHelp("Also write compare.json and differential flame graphs into DIR.", valueName: "DIR"))
    var output: String?
    @Flag(help: "Exit 1 when a row of the compared metric got significantly worse in B, and say which.")
    var failOnRegression = false
    @OptionGroup var filters: ReadingFilters

    enum Format: String, ExpressibleByArgument, CaseIterable { case text, json, csv }

    func run() throws {
        guard alpha > 0, alpha < 1 else { throw LockstatError.usage("--alpha: must be between 0 and 1, got \(alpha)") }
        guard top >= 1 else { throw LockstatError.usage("--top: must be 1 or more, got \(top)") }
        try filters.overrides.check(BuiltInModules.all)
        // Refused before anything is compared or printed; prepared (and checked again) at the end.
        if let output { try TestDirectory(output).refuseRunOrSet() }
        // Nothing in A or B is run: their pickles are read by lockstat's own unpickler, which
        // builds plain values only, and drop-ins' tables are data.
        var warnings = [String]()
        let sides = try [a, b].map { path -> RunGroup in
            guard FileReader.check(path) != .missing else { throw LockstatError("\(path): missing") }
            let group = try RunGroup.load(
                path, modules: Self.modules, warnings: &warnings, overrides: filters.overrides)
            guard !group.runs.isEmpty else {
                throw LockstatError(
                    "\(path): no run that ended with status 0 to compare"
                        + (group.failed.isEmpty ? " (not a test directory or repeat set?)" : ""))
            }
            return group
        }
        if let metric {
            // Drop-in modules add tables: the metrics are the runs' own.
            let schemas = Comparison.schemas(sides[0].runs + sides[1].runs)
            guard schemas.contains(where: { $0.table.metric(metric.text) != nil }) else {
                let known = schemas.map {
                    "\($0.module) \($0.table.name): " + $0.table.metrics.map(\.name).joined(separator: ", ")
                }
                let list = known.isEmpty ? "the runs have no table to compare" : known.joined(separator: "; ")
                throw LockstatError.usage("--metric: unknown metric '\(metric.text)'; " + list)
            }
        }
        for w in warnings { writeText(2, "lockstat: warning: \(w)\n") }
        var options = Comparison.Options()
        options.alpha = alpha
        options.totals = totals
        options.metric = metric?.text
        let comparison = Comparison(sides[0], sides[1], options: options)
        let report = ComparisonReport(comparison, top: top, ascii: ascii)
        switch format {
        case .text: print(report.text, terminator: "")
        case .json: print(report.json, terminator: "")
        case .csv: print(report.csv, terminator: "")
        }
        if let output { try ComparisonFiles.write(comparison, json: report.json, into: output) }
        if failOnRegression, !comparison.regressions.isEmpty {
            for (table, row) in comparison.regressions {
                writeText(
                    2,
                    "lockstat: regression: \(table.module) \(table.name) \(row.labels.joined(separator: " ")): \(table.column.title) "
                        + String(format: "%+.1f %% (p = %.4f)\n", row.change, row.p ?? 1))
            }
            throw ExitCode(1)
        }
    }

    /// A run's modules: as its config snapshot names them, else the registry's.
    static func modules(_ run: String) throws -> [any LockstatModule] { try LockstatCLI.modules(ofTestDirectory: run) }
}
