import LockstatColumns
import LockstatCore
import XCTest

/// Columns beyond the memory budget go to the spill file and read back as they were written:
/// by index, in order, a chunk at a time, and through samples.pickle.
final class ColumnTests: XCTestCase {
    var budget = 0

    override func setUp() { budget = ColumnSpill.shared.setBudget(bytes: 2 * Column.chunkLength * 8) }
    override func tearDown() { ColumnSpill.shared.setBudget(bytes: budget) }

    func values(_ n: Int, seed: Double) -> [Double] {
        (0..<n).map { $0 % 97 == 0 ? .nan : seed + Double($0) * 0.25 }
    }

    func testSpilledColumnsReadBackByIndexInOrderAndByChunk() {
        let spilledBefore = ColumnSpill.shared.spilledChunks
        let n = Column.chunkLength * 5 + 123
        let expected = (0..<4).map { values(n, seed: Double($0) * 1000) }
        let columns = expected.map { Column($0) }
        XCTAssertGreaterThanOrEqual(ColumnSpill.shared.spilledChunks - spilledBefore, 4 * 5 - 2, "beyond two chunks in memory, full chunks spill")
        for (column, want) in zip(columns, expected) {
            XCTAssertEqual(column.count, n)
            XCTAssert(zip(column, want).allSatisfy { $0 == $1 || ($0.isNaN && $1.isNaN) }, "in order")
            // Index by index, across the columns in turn (the spill's read cache shared between them).
            for i in stride(from: 0, to: n, by: 1013) { XCTAssert(column[i] == want[i] || (column[i].isNaN && want[i].isNaN), "index \(i)") }
            var chunked = [Double]()
            column.withChunks { chunked += $0 }
            XCTAssertEqual(chunked.count, n)
            XCTAssertEqual(Column(chunked), column)
        }
        XCTAssertNotEqual(columns[0], columns[1])
        let sum = Column.sum(columns, count: n)
        for i in stride(from: 0, to: n, by: 777) {
            let parts = expected.map { $0[i] }.filter { !$0.isNaN }
            XCTAssertEqual(sum[i].isNaN, parts.isEmpty)
            if !parts.isEmpty { XCTAssertEqual(sum[i], parts.reduce(0, +), accuracy: 1e-9) }
        }
    }

    func testACopyKeepsItsValuesWhileTheOriginalGrows() {
        var a = Column(values(Column.chunkLength + 10, seed: 1))
        let copy = a
        a.append(contentsOf: values(Column.chunkLength * 2, seed: 5))
        XCTAssertEqual(copy.count, Column.chunkLength + 10)
        XCTAssertEqual(copy, Column(values(Column.chunkLength + 10, seed: 1)))
        XCTAssertEqual(a.count, Column.chunkLength * 3 + 10)
    }

    func testSpilledSeriesRoundTripThroughThePickleAndJSON() throws {
        let n = Column.chunkLength * 4 + 7
        let value = PyValue.stringDict([("a", .floats(Column(values(n, seed: 3)))), ("b", .floats(Column(values(n, seed: -2))))])
        let back = try Unpickler.decode(Pickle.encode(value))
        XCTAssertEqual(back, value)
        XCTAssertEqual(back["a"]?.column?.count, n)
        let dir = TestDirectory(temporaryDirectory())
        try dir.open(create: true)
        try dir.write("s.json") { JSON.write(value, to: $0) }
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir.file("s.json")))) as? [String: [Any]])
        XCTAssertEqual(json["a"]?.count, n)
        XCTAssert(json["a"]?[0] is NSNull, "NaN is null")
        XCTAssertEqual(json["b"]?[1] as? Double, -2 + 0.25)
    }
}
