import Foundation

/// `lockstat export DIR --format pprof|openmetrics|csv`: a finished run in the formats other
/// tools read. Reads only the test directory (samples.pickle, the raw logs, the config snapshot).
public enum ExportStep {
    public enum Format: String, CaseIterable, Sendable { case pprof, openmetrics, csv }

    /// The files of `format`, by name (written by the caller through a test directory).
    public static func files(
        _ dir: TestDirectory, format: Format, modules: [any LockstatModule]
    ) throws -> [(name: String, bytes: [UInt8])] {
        switch format {
        case .csv: return try csv(dir, modules: modules)
        case .openmetrics: return [("lockstat.om", Array(try openMetrics(dir, modules: modules).utf8))]
        case .pprof: return try pprof(dir, modules: modules)
        }
    }

    /// Every generic table of every module, one file each: the header names each column with
    /// its unit, values as the report has them before rounding (RFC 4180 quoting). Read from
    /// samples.pickle, the stored model part of each module's analysis, as report reads it.
    static func csv(_ dir: TestDirectory, modules: [any LockstatModule]) throws -> [(name: String, bytes: [UInt8])] {
        var warnings = [String]()
        let models = try loadModels(dir, modules: modules, warnings: &warnings)
        var files = [(name: String, bytes: [UInt8])]()
        for (module, model) in models {
            for table in model.results.tables {
                // A unit of "1", or none, is a count.
                let header =
                    table.labels
                    + table.metrics.map {
                        "\($0.name) (\([.count, .unspecified].contains($0.measure) ? "count" : $0.unit))"
                    }
                var text = header.map(quoted).joined(separator: ",") + "\r\n"
                for row in table.rows {
                    text +=
                        (row.labels.map(quoted) + row.values.map { $0.isNaN ? "" : Exposition.number($0) }).joined(
                            separator: ",") + "\r\n"
                }
                files.append(("\(module)_\(table.name).csv", Array(text.utf8)))
            }
        }
        guard !files.isEmpty else {
            throw LockstatError("\(dir.path): no tables: none of the run's modules with data has any")
        }
        return files
    }

    static func quoted(_ cell: String) -> String {
        guard cell.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return cell }
        return "\"" + cell.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// One scrape's worth of the run's totals, the families `lockstat serve` exposes (with its
    /// cap): for a Pushgateway or node_exporter's textfile collector.
    public static func openMetrics(_ dir: TestDirectory, modules: [any LockstatModule]) throws -> String {
        let config = try runConfig(dir, modules: modules)
        let addresses = ServeSettings(config).addresses
        var families = [MetricFamily]()
        let request = AnalysisRequest(.metrics, addresses: addresses)
        for (module, log) in try rawLogs(dir, config: config, modules: modules)
        where module.analysisParts.contains(.metrics) {
            families += try module.analyze(log, config: config, parts: request).metricFamilies
        }
        guard !families.isEmpty else {
            let offering = offering(.metrics, modules).joined(separator: ", ")
            throw LockstatError("\(dir.path): no module of the run has metrics (\(offering) do)")
        }
        let cap = ExposedSeries(maxSeries: ServeSettings(config).maxSeries)
        return Exposition.render(cap.bounded(families), format: .openMetrics)
    }

    static func pprof(_ dir: TestDirectory, modules: [any LockstatModule]) throws -> [(name: String, bytes: [UInt8])] {
        let config = try runConfig(dir, modules: modules)
        var files = [(name: String, bytes: [UInt8])]()
        for (module, log) in try rawLogs(dir, config: config, modules: modules)
        where module.analysisParts.contains(.stacks) {
            let analysis = try module.analyze(log, config: config, parts: AnalysisRequest(.stacks))
            for (name, profile) in analysis.stackProfiles {
                files.append(("\(name).pb.gz", try profile.encoded()))
            }
        }
        guard !files.isEmpty else {
            throw LockstatError(
                "\(dir.path): no call stacks: the run had none of the modules that record them ("
                    + offering(.stacks, modules).joined(separator: ", ") + ")")
        }
        return files
    }

    /// The modules whose analysis makes `part`, for the error that the run had none.
    static func offering(_ part: AnalysisParts, _ modules: [any LockstatModule]) -> [String] {
        modules.filter { $0.analysisParts.contains(part) }.map(\.name)
    }

    /// The run's modules with a raw log, in config order. A log that cannot be read (missing
    /// when the run did not skip its module, a FIFO, a symlink, unreadable) is an error naming it.
    static func rawLogs(
        _ dir: TestDirectory, config: Config, modules: [any LockstatModule]
    ) throws -> [(any LockstatModule, RawLog)] {
        let skipped = ParseStep.skippedModules(dir)
        return try config.modules.compactMap { name in
            guard let module = modules.first(where: { $0.name == name }) else { return nil }
            if skipped.contains(name) && RawLog.isMissing(dir, module: name) { return nil }
            return (module, try RawLog.read(dir, module: name))
        }
    }
}
