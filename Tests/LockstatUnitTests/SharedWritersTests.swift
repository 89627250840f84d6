import XCTest
@testable import LockstatCore

/// The writers that several places share: the JSON string escaper in its script-safe mode (the page's
/// data) and the pickle writer's batched containers (lists, series, sets, dicts).
final class SharedWritersTests: XCTestCase {
    /// Script-safe JSON is the plain JSON with `<`, `>`, `&`, U+2028 and U+2029 escaped wherever
    /// they stand: in strings, in keys, and in JSON text Python made.
    func testScriptSafeJSONEscapesWhatEndsAScriptEverywhere() {
        let breakers = "</script><img src=x onerror=alert(1)>&\u{2028}\u{2029}\u{1}ü"
        let value: PyValue = .stringDict([
            (breakers, .string(breakers)), ("list", .list([.string("a<b"), .int(1), .float(0.5), .none])),
            ("foreign", .foreign(pickle: [], json: "{\"k<\": \"v>&\u{2028}\"}")),
            ("opaque", .foreign(pickle: [], json: nil)),
        ])
        let plain = JSON.encode(value)
        var expected = ""
        for u in plain.unicodeScalars {
            switch u {
            case "<": expected += "\\u003c"
            case ">": expected += "\\u003e"
            case "&": expected += "\\u0026"
            case "\u{2028}": expected += "\\u2028"
            case "\u{2029}": expected += "\\u2029"
            default: expected.unicodeScalars.append(u)
            }
        }
        let safe = JSON.encode(value, scriptSafe: true)
        XCTAssertEqual(safe, expected)
        XCTAssertFalse(safe.unicodeScalars.contains { "<>&\u{2028}\u{2029}".unicodeScalars.contains($0) })
        XCTAssertTrue(plain.contains("</script>"), "plain JSON keeps them")
    }

    /// Every container is its empty opcode, then per batch of up to 1000 items (CPython's batch size)
    /// MARK, the items and the opcode that adds them.
    func testContainersAreWrittenInBatchesOfAThousand() {
        let n = 2001
        func int(_ i: Int) -> [UInt8] {
            [PickleOp.binInt] + withUnsafeBytes(of: UInt32(bitPattern: Int32(i)).littleEndian) { Array($0) }
        }
        func float(_ d: Double) -> [UInt8] { [PickleOp.binFloat] + withUnsafeBytes(of: d.bitPattern.bigEndian) { Array($0) } }
        let ints: [PyValue] = (0..<n).map { .int(Int64($0)) }
        func batched(_ empty: UInt8, _ add: UInt8, _ count: Int, _ item: (Int) -> [UInt8]) -> [UInt8] {
            var out = [empty]
            for start in stride(from: 0, to: count, by: 1000) {
                out.append(PickleOp.mark)
                for i in start..<min(count, start + 1000) { out += item(i) }
                out.append(add)
            }
            return out
        }
        func body(_ v: PyValue) -> [UInt8] { Array(Pickle.encode(v).dropFirst(2).dropLast()) }
        XCTAssertEqual(body(.list(ints)), batched(PickleOp.emptyList, PickleOp.appends, n, int))
        XCTAssertEqual(body(.set(ints)), batched(PickleOp.emptySet, PickleOp.addItems, n, int))
        XCTAssertEqual(body(.dict((0..<n).map { (.int(Int64($0)), .int(Int64(-$0))) })),
                       batched(PickleOp.emptyDict, PickleOp.setItems, n) { int($0) + int(-$0) })
        XCTAssertEqual(body(.floats(Column((0..<n).map { $0 == 7 ? .nan : Double($0) }))),
                       batched(PickleOp.emptyList, PickleOp.appends, n) { $0 == 7 ? [PickleOp.none] : float(Double($0)) })
        XCTAssertEqual(body(.set([])), [PickleOp.emptySet])
    }
}
