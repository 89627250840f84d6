import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The results model's sorting, and the drop-ins' Python runner compiled by Python.
final class ResultsModelTests: XCTestCase {
    /// One --sort for two modules' tables: each table that has the key (or an alias) sorts by it.
    func testOneSortKeyServesEveryTableThatHasIt() throws {
        let locks = LockStatModel.classTable, callers = ContentionModel.rowsTable("callers", grouping: "caller")
        var a = locks, b = callers
        a.rows = [ResultRow(labels: ["few", ""], values: [1, 900, 9, 9, 1, 0, 0]), ResultRow(labels: ["many", ""], values: [50, 10, 1, 1, 50, 0, 0])]
        b.rows = [ResultRow(labels: ["spinlock", "f_few"], values: [2, 5000, 1, 1, 1]), ResultRow(labels: ["spinlock", "f_many"], values: [70, 10, 1, 1, 1])]
        let report = TableReport(modules: [("lock_stat", Results(tables: [a])), ("contention", Results(tables: [b]))])
        func order(_ text: String) -> [String] {
            text.split(separator: "\n").compactMap { line in ["few", "many", "f_few", "f_many"].first { line.hasSuffix("   " + $0) || line.contains("   " + $0 + "   ") } }
        }
        XCTAssertEqual(order(try report.render(sort: nil, by: nil, top: 10)), ["few", "many", "f_few", "f_many"], "by total wait")
        XCTAssertEqual(order(try report.render(sort: "contentions", by: nil, top: 10)), ["many", "few", "f_many", "f_few"])
        XCTAssertThrowsError(try report.render(sort: nil, by: "task", top: 10)) { XCTAssertTrue("\($0)".contains("one of caller")) }
    }

    /// The drop-ins' Python runner is valid Python 3, checked by Python's own compiler.
    func testThePythonRunnerCompiles() throws {
        let file = temporaryDirectory() + "/runner.py"
        try PythonRunner.source.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try shell(["python3", "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], doraise=True); print('ok')", file])
        XCTAssertEqual(r.out, "ok\n", r.err)
    }
}
