import Foundation
import XCTest
@testable import LockstatCharts
@testable import LockstatCore
@testable import LockstatModules

/// The one formatter of durations, SI-prefixed counts and axis ticks (UnitScale): its edge
/// cases, and the same text as the five formatters it replaced on ordinary values.
final class FormatTests: XCTestCase {
    func testDurations() {
        let d = UnitScale.duration
        XCTAssertEqual(d.text(0), "0 ns")
        XCTAssertEqual(d.text(999e-9), "999 ns")
        XCTAssertEqual(d.text(1000e-9), "1.00 us")
        XCTAssertEqual(d.text(192_670e-9), "192.67 us")
        XCTAssertEqual(d.text(0.5), "500.00 ms")
        XCTAssertEqual(d.text(12.345), "12.35 s")
        // A mantissa that rounds up to the next unit's start is printed in that unit.
        XCTAssertEqual(d.text(999.6e-9), "1.00 us")
        XCTAssertEqual(d.text(999.996e-6), "1.00 ms")
        XCTAssertEqual(d.text(0.999996), "1.00 s")
        XCTAssertEqual(d.text(999.994e-6), "999.99 us")
        XCTAssertEqual(d.text(-0.25), "-250.00 ms", "the unit by magnitude, the sign kept")
        XCTAssertEqual(d.text(-1e-13), "0 ns", "no -0")
        XCTAssertEqual(d.text(.nan), "nan ns")
        XCTAssertEqual(d.text(1e300).suffix(2), " s")
        XCTAssertEqual(d.text(.infinity), "inf s")
        XCTAssertEqual(Durations.text(seconds: 3.1e-3), "3.10 ms")
    }

    func testTicks() {
        let t = UnitScale.tick
        XCTAssertEqual(t.text(0), "0")
        XCTAssertEqual(t.text(0.1 + 0.2), "0.3", "no float noise")
        XCTAssertEqual(t.text(999), "999")
        XCTAssertEqual(t.text(1000), "1000", "k from 10 000")
        XCTAssertEqual(t.text(9999), "9999")
        XCTAssertEqual(t.text(10_000), "10k")
        XCTAssertEqual(t.text(15_000), "15k")
        XCTAssertEqual(t.text(2.5e6), "2.5M")
        XCTAssertEqual(t.text(3e9), "3G")
        XCTAssertEqual(t.text(9999.9996), "10k", "rounds up into k")
        XCTAssertEqual(t.text(999.95), "999.95")
        XCTAssertEqual(t.text(-15_000), "-15k")
        XCTAssertEqual(t.text(-0.0001), "0")
        XCTAssertEqual(t.text(.nan), "nan")
        XCTAssertTrue(t.text(1e300).hasSuffix("G"))
        XCTAssertEqual(tickLabel(1500), "1500")
    }

    func testCounts() {
        let c = UnitScale.compactCount, s = UnitScale.spacedCount
        XCTAssertEqual(c.text(0), "0")
        XCTAssertEqual(c.text(999), "999")
        XCTAssertEqual(c.text(2.5), "2.5")
        XCTAssertEqual(c.text(999.95), "1000.0", "999.95 at one decimal: below the k step")
        XCTAssertEqual(c.text(9999.96), "10.0k")
        XCTAssertEqual(c.text(12_345), "12.3k")
        XCTAssertEqual(c.text(999_960), "1.00M")
        XCTAssertEqual(c.text(2_310_000), "2.31M")
        XCTAssertEqual(c.text(-12_345), "-12.3k")
        XCTAssertEqual(c.text(.nan), "nan")
        XCTAssertEqual(s.text(0), "0")
        XCTAssertEqual(s.text(9999), "9999")
        XCTAssertEqual(s.text(10_000), "10.0 k")
        XCTAssertEqual(s.text(2_310_000), "2.31 M")
        XCTAssertEqual(s.text(1e300).suffix(2), " M")
        XCTAssertEqual(ContentionModel.Cost.count(5525), "5525")
        XCTAssertEqual(ComparisonReport.compact(1234.5), "1234.5")
    }

    func testWholeNanoseconds() {
        let w = UnitScale.wholeNanoseconds
        XCTAssertEqual(w.text(0), "0 ns")
        XCTAssertEqual(w.text(999), "999 ns")
        XCTAssertEqual(w.text(1000), "1 µs")
        XCTAssertEqual(w.text(32_768), "32 µs", "truncated, as a bucket's lower bound")
        XCTAssertEqual(w.text(999_999), "999 µs")
        XCTAssertEqual(w.text(Double(UInt64(1) << 40)), "1099 s")
        XCTAssertEqual(ContentionPlots.label(1 << 20), "1 ms")
    }

    /// The formatters UnitScale replaced, as they were, on values where they print the same
    /// (everything but the rounding into the next unit, negative durations and -0).
    func testSameTextAsTheFormattersItReplaced() {
        func oldDuration(_ seconds: Double) -> String {
            if seconds < 1e-6 { return String(format: "%.0f ns", seconds * 1e9) }
            if seconds < 1e-3 { return String(format: "%.2f us", seconds * 1e6) }
            if seconds < 1 { return String(format: "%.2f ms", seconds * 1e3) }
            return String(format: "%.2f s", seconds)
        }
        func trimmed(_ v: Double) -> String {
            var s = String(format: "%.3f", v)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            return s == "-0" ? "0" : s
        }
        func oldTick(_ v: Double) -> String {
            let a = abs(v)
            if a >= 1e9 { return trimmed(v / 1e9) + "G" }
            if a >= 1e6 { return trimmed(v / 1e6) + "M" }
            if a >= 1e4 { return trimmed(v / 1e3) + "k" }
            return trimmed(v)
        }
        func oldCompact(_ v: Double) -> String {
            let a = abs(v)
            if a >= 1e6 { return String(format: "%.2fM", v / 1e6) }
            if a >= 1e4 { return String(format: "%.1fk", v / 1e3) }
            return a == a.rounded() ? String(format: "%.0f", v) : String(format: "%.1f", v)
        }
        func oldCount(_ n: Double) -> String {
            n >= 1e6 ? String(format: "%.2f M", n / 1e6) : n >= 1e4 ? String(format: "%.1f k", n / 1e3) : String(Int(n))
        }
        func oldLabel(_ ns: UInt64) -> String {
            ns >= 1_000_000_000 ? "\(ns / 1_000_000_000) s" : ns >= 1_000_000 ? "\(ns / 1_000_000) ms"
                : ns >= 1000 ? "\(ns / 1000) µs" : "\(ns) ns"
        }
        var generator = SystemRandomNumberGenerator()
        var values: [Double] = [0, 1, 2, 5, 10, 999, 1000, 9999, 10_000, 123_456, 1e6, 1e9, 4.2e12]
        values += (0..<63).map { Double(UInt64(1) << UInt64($0)) }
        values += (0..<2000).map { _ in Double(Int.random(in: 0...Int(1e7), using: &generator)) }
        values += (0..<2000).map { _ in
            Double.random(in: 0...1, using: &generator) * pow(10, Double(Int.random(in: -10...12, using: &generator)))
        }
        for v in values {
            let rounded = ["1000.00 ms", "1000.00 us", "1000 ns"]
            if !rounded.contains(oldDuration(v)) { XCTAssertEqual(UnitScale.duration.text(v), oldDuration(v), "\(v)") }
            if oldTick(v) != "10000" && !oldTick(v).hasPrefix("1000k") && !oldTick(v).hasPrefix("1000M") {
                XCTAssertEqual(UnitScale.tick.text(v), oldTick(v), "\(v)")
                XCTAssertEqual(UnitScale.tick.text(-v), oldTick(-v), "\(-v)")
            }
            if !["10000.0", "1000.0k"].contains(oldCompact(v)) {
                XCTAssertEqual(UnitScale.compactCount.text(v), oldCompact(v), "\(v)")
            }
            if v == v.rounded() {
                if oldCount(v) != "1000.0 k" { XCTAssertEqual(UnitScale.spacedCount.text(v), oldCount(v), "\(v)") }
                if v < 1.8e19 { XCTAssertEqual(UnitScale.wholeNanoseconds.text(v), oldLabel(UInt64(v)), "\(v)") }
            }
        }
    }
}

/// The one codec of `key value` side records, the one reader of /proc/cpuinfo's model, the one
/// check for files others may write.
final class SideRecordTests: XCTestCase {
    func testKeyValueLines() {
        let text = KeyValueLines.text([("mode", "ring"), ("model", "Intel(R) Xeon(R) CPU @ 2.20GHz"), ("mode", "bpf")])
        XCTAssertEqual(text, "mode ring\nmodel Intel(R) Xeon(R) CPU @ 2.20GHz\nmode bpf\n")
        XCTAssertEqual(KeyValueLines.fields(text), ["mode": "bpf", "model": "Intel(R) Xeon(R) CPU @ 2.20GHz"],
                       "a later line wins")
        XCTAssertEqual(KeyValueLines.pairs("alone\n\n7 kworker/0:1 x\n").map { "\($0.key)|\($0.value)" },
                       ["7|kworker/0:1 x"], "a line without a value is skipped")
        var setup = ProfileSetup(text: "")
        setup.event = "cycles"
        setup.cpus = [0, 3]
        setup.randomPeriod = true
        setup.kernelBuildID = "abc"
        let back = ProfileSetup(text: setup.text)
        XCTAssertEqual([back.event, back.scope, back.model, back.kernelBuildID], ["cycles", "system", "unknown", "abc"])
        XCTAssertEqual(back.cpus, [0, 3])
        XCTAssertTrue(back.randomPeriod)
    }

    func testCPUModel() throws {
        let root = NSTemporaryDirectory() + "lockstat-cpuinfo-\(getpid())"
        try FileManager.default.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertEqual(SystemRoot(root).cpuModel, "unknown", "no /proc/cpuinfo")
        let cpuinfo = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel\t\t: 49\nmodel name\t: AMD EPYC 7B12  \n"
            + "processor\t: 1\nmodel name\t: other\n"
        try cpuinfo.write(toFile: root + "/proc/cpuinfo", atomically: false, encoding: .utf8)
        XCTAssertEqual(SystemRoot(root).cpuModel, "AMD EPYC 7B12", "the first model name, trimmed; not `model`")
        try "processor\t: 0\nfeatures\t: fp asimd\n"
            .write(toFile: root + "/proc/cpuinfo", atomically: false, encoding: .utf8)
        XCTAssertEqual(SystemRoot(root).cpuModel, "unknown", "no model name line (arm64)")
    }

    func testOthersMayWrite() {
        func mode(_ bits: mode_t) -> String? {
            var st = stat()
            st.st_mode = bits
            return OthersMayWrite.mode(st)
        }
        XCTAssertNil(mode(S_IFREG | 0o644))
        XCTAssertNil(mode(S_IFDIR | 0o755))
        XCTAssertEqual(mode(S_IFREG | 0o664), "664")
        XCTAssertEqual(mode(S_IFREG | 0o646), "646")
        XCTAssertEqual(mode(S_IFDIR | 0o1777), "1777")
    }
}
