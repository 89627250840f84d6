import Foundation
import Glibc
import XCTest
import CLockstat
@testable import LockstatCore
@testable import LockstatModules

/// Config input at its limits, parsed (the runs it stops are in the system tier).
final class ConfigHardeningTests: XCTestCase {
    let catalog = ModuleCatalog(BuiltInModules.all)

    func parse(_ text: String) throws -> Config { try ConfigParser.parse(text, file: "test.config", catalog: catalog) }

    func error(_ text: String) -> LockstatError? {
        do { _ = try parse(text); return nil } catch { return error as? LockstatError }
    }

    /// The largest map contention.entries allows drains into one raw-log record parse accepts.
    func testTheLargestAggregationMapFitsOneRawLogRecord() {
        let drain = ContentionModule.entriesRange.upperBound * MemoryLayout<ls_bpf_entry>.stride
        XCTAssertLessThanOrEqual(Zstd.bound(drain), RawLogFormat.maxSnapshot)
    }

    /// Every numeric key takes a whole number in its range, checked where the config is read;
    /// 2^31 entries used to reach Int32(entries) and trap.
    func testNumericKeysAreRangeCheckedWithFileAndLine() {
        let ranges = [("contention.entries", 1, 262_144), ("contention.top", 1, 1_000), ("lock_stat.top", 1, 1_000),
                      ("oprofile.top", 1, 1_000), ("oprofile.frequency", 1, 1_000_000), ("serve.max_series", 1, 1_000_000)]
        for (key, low, high) in ranges {
            XCTAssertNoThrow(try parse("\(key) \(low)\n\(key) \(high)\n"), key)
            for bad in [low - 1, high + 1] {
                XCTAssertEqual(error("# c\n\(key) \(bad)\n")?.message, "test.config:2: key '\(key)' must be from \(low) to \(high), got \(bad)")
                XCTAssertEqual(error("\(key) \(bad)\n")?.exitCode, 2)
            }
            XCTAssertEqual(error("\(key) 2147483648\n")?.message, "test.config:1: key '\(key)' must be from \(low) to \(high), got 2147483648")
            XCTAssertEqual(error("\(key) 99999999999999999999999\n")?.message,
                           "test.config:1: key '\(key)' needs one whole number from \(low) to \(high), got '99999999999999999999999'")
            XCTAssertEqual(error("\(key) 1 2\n")?.message, "test.config:1: key '\(key)' needs one whole number from \(low) to \(high), got '1 2'")
        }
    }

    /// A config saved with CRLF endings reads as its LF twin ("\r\n" is one Character in Swift).
    func testCRLFConfigReadsAsItsLFTwin() throws {
        let lf = "modules stat lock_stat # two\nintervall 0.5\nlock_stat.top 3\nmodule_path a b\n"
        let crlf = lf.replacingOccurrences(of: "\n", with: "\r\n")
        XCTAssertEqual(try parse(crlf), try parse(lf))
        XCTAssertEqual(try parse(crlf).modules, ["stat", "lock_stat"])
        XCTAssertEqual(ModuleCatalog.modulePath(in: crlf), ["a", "b"])
        XCTAssertEqual(error("modules stat\r\n\r\nintervall 0\r\n")?.message, "test.config:3: key 'intervall' must be greater than 0, got 0")
        XCTAssertEqual(try ConfigParser.warnings("intervall 1\r\nmodules stat\r\n", file: "test.config"), [])
    }

    /// Twice, under its name or an alias: refused with the line (it would sample twice into one log).
    func testModuleListedTwiceIsRefused() {
        XCTAssertEqual(error("modules stat diskstats stat\n")?.message,
                       "test.config:1: module 'stat' listed twice in key 'modules': a module samples once per run")
        XCTAssertEqual(error("\nmodules profile oprofile\n")?.message,
                       "test.config:2: module 'oprofile' listed twice in key 'modules' (as 'profile' and 'oprofile'): a module samples once per run")
        XCTAssertEqual(error("modules stat stat\n")?.exitCode, 2)
        XCTAssertEqual(try parse("modules stat\nmodules stat diskstats\n").modules, ["stat", "diskstats"], "a key given twice: the last wins")
        XCTAssertEqual(error("modules " + String(repeating: "stat ", count: 10_000) + "\n")?.message,
                       "test.config:1: module 'stat' listed twice in key 'modules': a module samples once per run")
    }
}
