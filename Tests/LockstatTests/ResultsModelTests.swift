import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The typed results model and its generic form: what `report` (and every generic output)
/// reads, for built-in and drop-in modules alike.
final class ResultsModelTests: XCTestCase {
    /// A drop-in module declares a table and a series as data; `report` shows the table like a
    /// built-in's, sorts it by its own column, and lists its keys when told a wrong one.
    func testADropInModulesDeclaredTableIsReported() throws {
        let module = """
        def parse(test_dir):
            return {"depth": [1, 2], "_lockstat_results": {
                "time": [0.5, 1.0],
                "tables": [{"name": "queues", "labels": ["queue"], "sort": "depth",
                            "columns": [{"name": "depth", "title": "queue depth", "unit": "1", "kind": "gauge", "worse": "higher"},
                                        {"name": "served", "title": "served", "unit": "1", "kind": "count"}],
                            "rows": [{"queue": "q-small", "depth": 2, "served": 900}, {"queue": "q-deep", "depth": 40, "served": 5}]}],
                "series": [{"name": "depth q-deep", "unit": "1", "values": [30, 40]}]}}
        """
        let dir = try dropIn(["queues.py": module])
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertFalse(r.err.contains("warning"), r.err)
        let byDepth = try Lockstat.tool(["report", dir + "/run"])
        XCTAssertEqual(byDepth.status, 0, byDepth.err)
        XCTAssertEqual(byDepth.out, "queue depth  served   queue\n         40       5   q-deep\n          2     900   q-small\n")
        let byServed = try Lockstat.tool(["report", dir + "/run", "--sort", "served"])
        XCTAssertTrue(byServed.out.hasSuffix("          2     900   q-small\n         40       5   q-deep\n"), byServed.out)
        let bad = try Lockstat.tool(["report", dir + "/run", "--sort", "latency"])
        XCTAssertEqual(bad.status, 2)
        XCTAssertEqual(bad.err, "lockstat: --sort: unknown key 'latency'; queues: depth, served, queue\n")
        // The page and compare show it like a built-in's table.
        let page = try String(contentsOfFile: dir + "/run/index.html", encoding: .utf8)
        XCTAssertTrue(page.contains("<h3>queues</h3>") && page.contains(">queue depth</th>") && page.contains(">q-deep</td>"))
        let compared = try Lockstat.tool(["compare", dir + "/run", dir + "/run"])
        XCTAssertEqual(compared.status, 0, compared.err)
        XCTAssertTrue(compared.out.contains("queues queues: queue depth\n") && compared.out.contains("q-deep"), compared.out)
        // samples.pickle keeps the value exactly as the module returned it.
        let check = "import pickle, sys; d = pickle.load(open(sys.argv[1], 'rb'))['queues']; assert d['depth'] == [1, 2]; print('ok')"
        XCTAssertEqual(try shell(["python3", "-c", check, dir + "/run/samples.pickle"]).out, "ok\n")
    }

    /// A declaration that does not check out: a warning naming the key, the value kept.
    func testABrokenDeclarationIsAWarningNamingTheKey() throws {
        let module = """
        def parse(test_dir):
            return {"_lockstat_results": {"tables": [{"name": "t", "labels": ["k"],
                    "columns": [{"name": "c", "unit": "1", "kind": "often"}], "rows": []}]}}
        """
        let dir = try dropIn(["broken.py": module])
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("warning: broken: _lockstat_results left out: _lockstat_results.tables[0].columns[0].kind: one of count, time, rate, percent, gauge"), r.err)
        XCTAssertNotEqual(try Lockstat.samples(dir + "/run")["broken"], PyValue.none)
    }

    /// Every built-in module's entry decodes into the model that wrote it: `lockstat graph`
    /// and `report` read what parse made, key for key.
    func testEveryBuiltInEntryDecodesToTheSameEntry() throws {
        for c in try SamplesKeysTests.cases() {
            let parsed = try c.module.parse(c.log, config: c.config)
            let decoded = try c.module.model(decoding: parsed.data, config: c.config)
            XCTAssertEqual(JSON.encode(decoded.entry), JSON.encode(parsed.data), c.name)
            XCTAssertEqual(decoded.results.tables.map { $0.rows }, parsed.model.results.tables.map { $0.rows }, c.name)
        }
    }

    func dropIn(_ modules: [String: String]) throws -> String {
        let dir = temporaryDirectory(name)
        try FileManager.default.createDirectory(atPath: dir + "/mods", withIntermediateDirectories: true)
        for (file, text) in modules { try text.write(toFile: dir + "/mods/" + file, atomically: true, encoding: .utf8) }
        let names = modules.keys.map { String($0.dropLast(3)) }.joined(separator: " ")
        try "modules \(names)\nmodule_path mods\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        return dir
    }
}
