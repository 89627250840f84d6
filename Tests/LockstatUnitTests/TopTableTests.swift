import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// `lockstat top`'s pure parts: the screen drawn from rows and a size, the plain table, and one
/// interval's waits from two readings of aggregation entries made here.
final class TopTableTests: XCTestCase {
    /// A table as the contention source makes it: long keys, every column.
    func table(rows: Int) -> LiveTable {
        let rows = (0..<rows).map { i in
            ContentionTopTable.cells(
                .init(
                    key: "caller_\(i)_" + String(repeating: "x", count: 90), type: "percpu-rwsem:W", count: 100,
                    total: 5_000_000, max: 900_000),
                seconds: 1, owners: false)
        }
        return LiveTable(
            header:
                "12:00:00 1.00 s: 1234 contentions 1234/s, wait 12.00 ms/s, 0 lost, lockstat CPU 0.2 %, system-wide",
            columns: ContentionTopTable.columns(keyTitle: "caller"), rows: rows,
            detail: ["frame_a+0x1", "frame_b+0x2"])
    }

    func testLayoutAt60x20DropsColumnsAndNeverWraps() {
        let lines = LiveScreen.lines(table(rows: 40), status: "by caller", detail: false, width: 60, height: 20)
        XCTAssertEqual(lines.count, 20, "rows beyond the height are left out")
        XCTAssertTrue(lines.allSatisfy { $0.count <= 60 }, "\(lines.map(\.count))")
        XCTAssertEqual(
            lines[2], "contentions/s     wait/s           type caller", "max wait and avg dropped, in that order")
        XCTAssertTrue(lines[3].hasPrefix("          100    5.00 ms percpu-rwsem:W caller_0_xxx"), lines[3])
    }

    func testLayoutAt80x24KeepsEveryColumn() {
        let lines = LiveScreen.lines(table(rows: 40), status: "by caller", detail: true, width: 80, height: 24)
        XCTAssertEqual(lines.count, 24)
        XCTAssertTrue(lines.allSatisfy { $0.count <= 80 }, "\(lines.map(\.count))")
        XCTAssertEqual(
            lines[2], "contentions/s     wait/s       avg  max wait           type caller")
        XCTAssertEqual(
            Array(lines.suffix(4)), ["", "stack of the top row:", "  frame_a+0x1", "  frame_b+0x2"],
            "the detail stays below the rows that fit")
        XCTAssertEqual(lines.count - 3 - 4, 17, "the rows fill what the header and detail leave")
    }

    func testLayoutAt200x60ShowsWholeKeys() {
        let lines = LiveScreen.lines(table(rows: 5), status: "by caller", detail: false, width: 200, height: 60)
        XCTAssertEqual(lines.count, 3 + 5, "no padding lines below the rows")
        XCTAssertTrue(lines[3].hasSuffix("caller_0_" + String(repeating: "x", count: 90)), lines[3])
        XCTAssertEqual(lines[0], table(rows: 0).header, "the header whole")
    }

    func testTinyAndEmptyScreens() {
        XCTAssertEqual(LiveScreen.lines(table(rows: 3), status: "s", detail: false, width: 0, height: 10), [])
        XCTAssertEqual(LiveScreen.lines(table(rows: 3), status: "s", detail: false, width: 10, height: 2).count, 2)
        let empty = LiveScreen.lines(table(rows: 0), status: "s", detail: false, width: 80, height: 24)
        XCTAssertEqual(empty.last, "(nothing in this interval)")
    }

    func testPlainTableHasEveryColumnAndNoEscapes() {
        let text = LiveScreen.plain(table(rows: 30), rows: 20)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertEqual(lines.count, 1 + 1 + 20 + 2, "header, titles, 20 rows, a blank line")
        XCTAssertTrue(lines[1].contains("max wait") && lines[1].contains("avg"))
        XCTAssertFalse(text.contains("\u{1B}"))
        XCTAssertTrue(text.hasSuffix("\n\n"))
    }

    // MARK: one interval from two readings

    func entry(
        lock: UInt64, stack: Int32, tid: UInt32, count: UInt64, total: UInt64, max: UInt64, buckets: [Int: UInt32]
    )
        -> ls_bpf_entry
    {
        var value = ls_bpf_value()
        value.count = count
        value.total_ns = total
        value.max_ns = max
        value.flags = 4
        withUnsafeMutableBytes(of: &value.buckets) { raw in
            let b = raw.bindMemory(to: UInt32.self)
            for (i, n) in buckets { b[i] = n }
        }
        return ls_bpf_entry(key: ls_bpf_key(lock: lock, stack_id: stack, tid: tid, cgroup: 0), value: value)
    }

    func testWaitsAreWhatEachEntryGainedSinceItsLastReading() {
        var readings = ContentionTopReadings()
        let first = [
            entry(lock: 0xA, stack: 1, tid: 7, count: 10, total: 10_000, max: 3000, buckets: [10: 10]),
            entry(lock: 0xB, stack: 2, tid: 8, count: 4, total: 400, max: 200, buckets: [6: 4]),
        ]
        let w1 = first.withUnsafeBufferPointer { readings.waits($0) }
        XCTAssertEqual(w1.map(\.count), [10, 4])
        XCTAssertEqual(w1.map(\.max), [3000, 200], "an entry first read: its own maximum")
        // A reads again with 5 more waits, none longer than before; B unchanged is not returned by the drain.
        let second = [entry(lock: 0xA, stack: 1, tid: 7, count: 15, total: 12_000, max: 3000, buckets: [10: 10, 8: 5])]
        let w2 = second.withUnsafeBufferPointer { readings.waits($0) }
        XCTAssertEqual(w2.count, 1)
        XCTAssertEqual(w2[0].count, 5)
        XCTAssertEqual(w2[0].total, 2000)
        XCTAssertEqual(w2[0].max, 511, "the interval's longest is at most its highest bucket's bound [256, 512)")
        let third = [
            entry(lock: 0xA, stack: 1, tid: 7, count: 16, total: 17_000, max: 5000, buckets: [10: 10, 8: 5, 12: 1])
        ]
        XCTAssertEqual(third.withUnsafeBufferPointer { readings.waits($0) }.first?.max, 5000, "a new maximum is exact")
        XCTAssertEqual(readings.idle(for: 3), [], "B idle for two readings")
        _ = [ls_bpf_entry]().withUnsafeBufferPointer { readings.waits($0) }
        XCTAssertEqual(readings.idle(for: 3).map(\.lock), [0xB])
        XCTAssertNil(readings.last[BPFAggregates.Key(first[1].key)], "forgotten: a new entry counts from zero")
    }

    func testRowsGroupSortAndRatePerMeasuredSecond() {
        typealias W = ContentionTopReadings.Waits
        func w(_ stack: Int32, _ tid: UInt32, _ count: UInt64, _ total: UInt64, _ max: UInt64, flags: UInt32) -> W {
            W(
                key: .init(ls_bpf_key(lock: 1, stack_id: stack, tid: tid, cgroup: 0)), count: count, total: total, max: max,
                flags: flags, kind: 0)
        }
        let waits = [
            w(1, 7, 10, 1_000_000, 300_000, flags: 4), w(2, 7, 100, 500_000, 9000, flags: 1),
            w(3, 8, 1, 2_000_000, 2_000_000, flags: 4),
        ]
        let byTask = ContentionTopTable.rows(waits) { String($0.key.tid) }
        let seven = byTask.first { $0.key == "7" }!
        XCTAssertEqual([seven.count, seven.total, seven.max], [110, 1_500_000, 300_000])
        XCTAssertEqual(seven.type, "rwsem:W", "the type it waited on most")
        XCTAssertEqual(seven.stack, 1, "the stack it waited on most")
        let sorts = ContentionTopTable.sortKeys.indices.map { ContentionTopTable.sorted(byTask, sort: $0).map(\.key) }
        XCTAssertEqual(sorts, [["8", "7"], ["7", "8"], ["8", "7"], ["8", "7"]], "wait, contentions, max, avg")
        let cells = ContentionTopTable.cells(seven, seconds: 0.5, owners: false)
        XCTAssertEqual(cells, ["220", "3.00 ms", "13.64 us", "300.00 us", "rwsem:W", "7"], "rates per measured second")
    }
}
