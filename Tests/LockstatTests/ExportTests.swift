import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// `lockstat export`: pprof files read by Go's own `go tool pprof`, OpenMetrics read by
/// prometheus_client's parser, CSV read by Python's csv module, each against the report of the
/// same run (two hot functions and a mkdir/rmdir storm, profiled and traced at once).
final class ExportTests: XCTestCase {
    /// One run for every test of the class: made once.
    static var made: (dir: String, program: String)?

    func run() throws -> (dir: String, program: String) {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: the oprofile and contention modules need root") }
        for m in [ProfileModule() as any LockstatModule, ContentionModule()] {
            if let reason = m.unavailableReason(SystemRoot()) { throw XCTSkip("SKIPPED: \(m.name): \(reason)") }
        }
        if let made = Self.made { return made }
        let dir = temporaryDirectory("ExportTests")
        let program = dir + "/hot-pair", storm = dir + "/mkdir-storm"
        for (source, exe, flags) in [("Tests/profile/hot-pair.c", program, ["-O1", "-fno-omit-frame-pointer", "-fno-inline"]),
                                     ("Tests/contention/mkdir-storm.c", storm, ["-O2", "-pthread"])] {
            let cc = try shell(["cc"] + flags + ["-o", exe, Fixtures.repository.path + "/" + source])
            XCTAssertEqual(cc.status, 0, cc.err)
        }
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: true)
        // The program's tasks only: what other processes run on a shared machine is not this test's to name.
        try "modules oprofile contention stat diskstats\noprofile.frequency 499\noprofile.scope program\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sh", "-c", "\(program) 2 & \(storm) \(dir)/storm 2 4; wait"])
        XCTAssertEqual(r.status, 0, r.err)
        Self.made = (dir + "/run", program)
        return Self.made!
    }

    func goPprof(_ arguments: [String]) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/go") else { throw XCTSkip("SKIPPED: no /usr/bin/go (Debian's golang-go; .ci/run installs it)") }
        let r = try shell(["go", "tool", "pprof"] + arguments, environment: ["HOME": "/tmp", "PATH": "/usr/bin:/bin", "GOCACHE": "/tmp/lockstat-gocache"])
        XCTAssertEqual(r.status, 0, r.err)
        return r.out
    }

    /// `go tool pprof -top` of cpu.pb.gz: the functions and sample counts of lockstat's report
    /// (rows of the same symbol in several images added up, as pprof names functions), the same
    /// total; the program's mapping carries its build ID (as readelf -n shows it).
    func testTheCPUProfileReadsInGoToolPprofAsTheReportHasIt() throws {
        let (dir, program) = try run()
        let export = try Lockstat.tool(["export", dir, "--format", "pprof"])
        XCTAssertEqual(export.status, 0, export.err)
        XCTAssertEqual(export.err, "lockstat: wrote in \(dir)/export: cpu.pb.gz contention.pb.gz\n")
        let top = try goPprof(["-top", "-sample_index=samples", "-nodecount=8", dir + "/export/cpu.pb.gz"])
        let model = try ProfileModule().decode(try XCTUnwrap(Lockstat.samples(dir)["oprofile"]))
        XCTAssertTrue(top.contains("Total samples = \(model.totalSamples) "), top)
        // pprof names a function without its parameter lists (C++, Swift demangled names).
        var bySymbol = [String: Int]()
        for row in model.rows { bySymbol[Self.withoutParameters(row.symbol), default: 0] += row.samples }
        let rows = Self.topRows(top)
        XCTAssertGreaterThanOrEqual(rows.count, 5, top)
        for (flat, name) in rows { XCTAssertEqual(flat, bySymbol[name], "\(name) in\n\(top)") }
        XCTAssertTrue(rows.prefix(3).contains { $0.name == "hot_a" }, top)
        let raw = try goPprof(["-raw", dir + "/export/cpu.pb.gz"])
        let buildID = try XCTUnwrap(ElfImage(path: program)?.buildID)
        XCTAssertTrue(raw.contains(buildID) && raw.contains(program), "the program's mapping and build ID \(buildID)")
        XCTAssertTrue(raw.contains("[kernel.kallsyms]"))
    }

    /// contention.pb.gz: `-tags` per caller label is the report's caller table (contended counts
    /// exactly); `-top -cum` has the storm's syscall above the rwsem's slow path, leaf first.
    func testTheContentionProfileGivesTheReportsCallers() throws {
        let (dir, _) = try run()
        XCTAssertEqual(try Lockstat.tool(["export", dir, "--format", "pprof"]).status, 0)
        let tags = try goPprof(["-tags", "-sample_index=contentions", dir + "/export/contention.pb.gz"])
        let model = try ContentionModule().decode(try XCTUnwrap(Lockstat.samples(dir)["contention"]))
        var checked = 0
        for row in model.callers.prefix(5) {
            let line = tags.split(separator: "\n").first { $0.hasSuffix(": " + row.key) }
            let count = line.flatMap { $0.split(separator: " ").first }.flatMap { Double($0) }
            XCTAssertEqual(count, Double(row.contended), "\(row.key) in\n\(tags)")
            checked += 1
        }
        XCTAssertEqual(checked, 5)
        XCTAssertTrue(tags.contains("Total \(model.callers.reduce(0) { $0 + $1.contended }).0"), tags)
        let cum = try goPprof(["-top", "-cum", "-sample_index=delay", dir + "/export/contention.pb.gz"])
        XCTAssertTrue(cum.contains("rwsem_down_write_slowpath"), cum)
        XCTAssertTrue(cum.contains("do_mkdirat"), cum)
    }

    /// OpenMetrics to standard output: prometheus_client's parser takes it, the storm's caller
    /// has the report's contended count as its histogram's _count, CPU time adds up to the
    /// run's length on each CPU.
    func testOpenMetricsOfTheRunParseAndHoldTheReportsCounts() throws {
        let (dir, _) = try run()
        let r = try Lockstat.tool(["export", dir, "--format", "openmetrics", "--output", "-"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.hasSuffix("# EOF\n"))
        try r.out.write(toFile: dir + "/../run.om", atomically: true, encoding: .utf8)
        let parse = try shell(["python3", "-c", """
            import sys
            from prometheus_client.openmetrics.parser import text_string_to_metric_families
            print(len(list(text_string_to_metric_families(open(sys.argv[1]).read()))))
            """, dir + "/../run.om"])
        XCTAssertEqual(parse.status, 0, "prometheus_client rejected it: " + parse.err)
        let model = try ContentionModule().decode(try XCTUnwrap(Lockstat.samples(dir)["contention"]))
        let top = try XCTUnwrap(model.callers.first)
        let samples = ServeTests.samples(r.out)
        let count = samples.filter { $0.key.family == "lockstat_lock_wait_seconds_count" && $0.key.labels.contains("caller=\"\(top.key)\"") }.values.reduce(0, +)
        XCTAssertEqual(count, Double(top.contended))
        let cpu = samples.filter { $0.key.family == "lockstat_cpu_seconds_total" }.values.reduce(0, +)
        let cpus = Double(ProcessInfo.processInfo.activeProcessorCount)
        XCTAssertEqual(cpu, 2 * cpus, accuracy: 0.5 * cpus, "a 2 s run's CPU time on \(cpus) CPUs")
    }

    /// CSV: a file per table, units in the header, every row of the report's tables, read back
    /// by Python's csv module to the same numbers.
    func testCSVHasEveryTableWithUnits() throws {
        let (dir, _) = try run()
        let r = try Lockstat.tool(["export", dir, "--format", "csv", "--output", dir + "/../csv"])
        XCTAssertEqual(r.status, 0, r.err)
        var warnings = [String]()
        let models = try loadModels(TestDirectory(dir), modules: BuiltInModules.all, warnings: &warnings)
        var files = 0
        for (module, model) in models {
            for table in model.results.tables {
                let path = dir + "/../csv/\(module)_\(table.name).csv"
                let read = try shell(["python3", "-c", "import csv, json, sys; print(json.dumps(list(csv.reader(open(sys.argv[1], newline='')))))", path])
                XCTAssertEqual(read.status, 0, read.err)
                let rows = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(read.out.utf8)) as? [[String]])
                XCTAssertEqual(rows.count, table.rows.count + 1, path)
                XCTAssertEqual(rows.first?.count, table.labels.count + table.metrics.count, path)
                for metric in table.metrics {
                    let unit = metric.unit == "1" || metric.unit.isEmpty ? "count" : metric.unit
                    XCTAssertTrue(rows[0].contains("\(metric.name) (\(unit))"), "\(path): \(rows[0])")
                }
                if let first = table.rows.first, rows.count > 1 {
                    XCTAssertEqual(Array(rows[1].prefix(table.labels.count)), first.labels)
                    let values = rows[1].dropFirst(table.labels.count).map { Double($0) ?? .nan }
                    XCTAssertEqual(ResultRow(labels: first.labels, values: values), first, path)
                }
                files += 1
            }
        }
        XCTAssertGreaterThanOrEqual(files, 6)
    }

    /// A name as pprof's -top shows it: every parenthesised part left out, spaces single.
    static func withoutParameters(_ name: String) -> String {
        var out = "", depth = 0
        for c in name {
            if c == "(" { depth += 1 } else if c == ")" { depth = max(0, depth - 1) } else if depth == 0 { out.append(c) }
        }
        return out.split(separator: " ").joined(separator: " ")
    }

    /// `-top`'s rows: (flat, function name).
    static func topRows(_ text: String) -> [(flat: Int, name: String)] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, let flat = Int(f[0]), f[1].hasSuffix("%") else { return nil }
            return (flat, f[5...].joined(separator: " "))
        }
    }
}
