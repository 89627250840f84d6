import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// `run --repeat N` and `lockstat compare A B`, on real workloads whose contention or profile
/// changes for a known reason, and on a workload that does not change at all.
final class CompareTests: XCTestCase {
    func requireContention() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: the contention module needs root") }
        if let reason = ContentionModule().unavailableReason(SystemRoot()) { throw XCTSkip("SKIPPED: \(reason)") }
    }

    func compile(_ path: String, _ flags: [String] = ["-O2"]) throws -> String {
        let exe = temporaryDirectory() + "/" + URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
        let cc = try shell(["cc"] + flags + ["-o", exe, Fixtures.repository.path + "/" + path])
        XCTAssertEqual(cc.status, 0, cc.err)
        return exe
    }

    /// A set of `count` runs of mkdir-storm, 4 workers in one directory or each in its own.
    func mkdirSet(_ dir: String, count: Int, privateDirectories: Bool) throws -> String {
        let exe = try compile("Tests/contention/mkdir-storm.c")
        try "modules contention\nintervall 0.1\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let work = dir + "/work-\(privateDirectories ? "private" : "shared")"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        let set = dir + "/" + (privateDirectories ? "private" : "shared")
        let r = try Lockstat.run(["--config", dir + "/c.config", "--repeat", String(count), set, exe, work, "0.3", "4"] + (privateDirectories ? ["private"] : []))
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("set of \(count) runs in \(set): \(count) counted"), r.err)
        return set
    }

    /// 4 workers doing mkdir/rmdir in one directory (A) against 4 each in its own (B), 10 runs a
    /// side: the directory rwsem's waiters (do_mkdirat, __x64_sys_rmdir) fall significantly, and
    /// the text table says so in 80 columns that parse back into compare.json's numbers.
    func testMkdirInOneDirectoryAgainstOneEachFallsSignificantly() throws {
        try requireContention()
        let dir = temporaryDirectory()
        let a = try mkdirSet(dir, count: 10, privateDirectories: false), b = try mkdirSet(dir, count: 10, privateDirectories: true)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: a + "/set.json"))) as! [String: Any]
        XCTAssertEqual((summary["runs"] as! [[String: Any]]).count, 10)
        let r = try Lockstat.tool(["compare", a, b, "--output", dir + "/cmp"])
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.out.split(separator: "\n", omittingEmptySubsequences: false)
        XCTAssertTrue(lines.allSatisfy { $0.count <= 80 }, lines.filter { $0.count > 80 }.joined(separator: "\n"))
        let callers = try table(r.out, "contention callers")
        for function in ["do_mkdirat", "__x64_sys_rmdir"] {
            let row = callers.first { $0.label.hasPrefix(function + "+") && $0.label.contains("rwsem") }
            XCTAssertTrue(row?.change == "gone" || (row?.change.hasPrefix("-") ?? false), "\(function) falls: \(String(describing: row)) in\n\(r.out)")
            // "~" (not significant) reads as 1.
            XCTAssertLessThan(Double(row?.p.replacingOccurrences(of: "<", with: "") ?? "") ?? 1, 0.05, "\(function) significant")
        }
        // The text's numbers are compare.json's.
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/cmp/compare.json"))) as! [String: Any]
        let callersJSON = (json["tables"] as! [[String: Any]]).first { $0["table"] as? String == "callers" }!
        let rows = callersJSON["rows"] as! [[String: Any]]
        // The table's unit is ns per second; the text's times are parsed into seconds.
        let scale = Durations.secondsPer(String((callersJSON["unit"] as! String).dropLast(2)))!
        for shown in callers {
            let row = rows.first { ($0["labels"] as! [String]).joined(separator: " ").hasPrefix(shown.label.replacingOccurrences(of: "…", with: "")) }!
            for (printed, key) in [(shown.a, "median_a"), (shown.b, "median_b")] {
                let exact = (row[key] as! Double) * scale
                XCTAssertEqual(printed, exact, accuracy: max(0.006 * exact, 0.6e-9), "\(shown.label) \(key)")
            }
            if shown.p == "<0.0001" {
                XCTAssertLessThan(row["p"] as! Double, 1e-4, shown.label)
            } else if shown.p != "~" {
                let p = try XCTUnwrap(Double(shown.p), shown.label)
                XCTAssertEqual(p, row["p"] as! Double, accuracy: 1e-4, shown.label)
            }
        }
        // The comparison's page: every compared table, the differential flame graph inline.
        let page = try String(contentsOfFile: dir + "/cmp/index.html", encoding: .utf8)
        XCTAssertTrue(page.contains("contention callers: total wait per second of run time") && page.contains("class=\"flamegraph\""))
        // The differential flame graph and its folded pairs.
        let folded = try String(contentsOfFile: dir + "/cmp/contention_wait_diff.difffolded", encoding: .utf8)
        XCTAssertTrue(folded.split(separator: "\n").allSatisfy { $0.split(separator: " ").suffix(2).allSatisfy { Double($0) != nil } })
        XCTAssertEqual(try shell(["python3", "-c", "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])", dir + "/cmp/contention_wait_diff.svg"]).status, 0)
        // Going A → B the directory rwsem's waiters do not regress (other locks may: B does more
        // work); B → A they do, and it says where.
        XCTAssertFalse(try Lockstat.tool(["compare", a, b, "--fail-on-regression"]).err.contains("do_mkdirat"))
        let back = try Lockstat.tool(["compare", b, a, "--fail-on-regression", "--ascii"])
        XCTAssertEqual(back.status, 1)
        XCTAssertTrue(back.err.contains("lockstat: regression: contention callers do_mkdirat+"), back.err)
        XCTAssertTrue(back.out.unicodeScalars.allSatisfy(\.isASCII))
        // A set against itself: nothing significant.
        let same = try Lockstat.tool(["compare", a, a, "--format", "csv"])
        XCTAssertFalse(same.out.split(separator: "\n").dropFirst().contains { $0.contains(",yes,") }, same.out)
        // One run a side: changes without p-values, and the header says why.
        let single = try Lockstat.tool(["compare", a + "/1", b + "/1"])
        XCTAssertEqual(single.status, 0, single.err)
        XCTAssertTrue(single.out.contains("significance needs at least 3 runs a side"), single.out)
        XCTAssertTrue(try table(single.out, "contention callers").allSatisfy { $0.p.isEmpty })
    }

    /// False positives, from the statistics alone: one set of 20 runs of the same workload,
    /// split at random into 10 against 10, twenty times: at most 2 splits have any significant row.
    func testTwentySplitsOfOneWorkloadGiveAtMostTwoFalsePositives() throws {
        try requireContention()
        let dir = temporaryDirectory()
        let set = try mkdirSet(dir, count: 20, privateDirectories: false)
        var warnings = [String]()
        let all = try RunGroup.load(set, modules: { _ in BuiltInModules.all }, warnings: &warnings)
        XCTAssertEqual(all.runs.count, 20)
        var generator = SplitMix(seed: 20261201)
        var flagged = [String]()
        for split in 0..<20 {
            let order = all.runs.indices.shuffled(using: &generator)
            let a = RunGroup(path: "A", isSet: true, runs: order.prefix(10).map { all.runs[$0] }, failed: [])
            let b = RunGroup(path: "B", isSet: true, runs: order.suffix(10).map { all.runs[$0] }, failed: [])
            let comparison = Comparison(a, b)
            let significant = comparison.tables.flatMap { t in t.rows.prefix(10).filter(\.significant).map { "\(t.name): \($0.labels.joined(separator: " "))" } }
            if !significant.isEmpty { flagged.append("split \(split): " + significant.joined(separator: ", ")) }
        }
        print("false positives: \(flagged.count) of 20 splits" + (flagged.isEmpty ? "" : ": " + flagged.joined(separator: "; ")))
        XCTAssertLessThanOrEqual(flagged.count, 2, flagged.joined(separator: "\n"))
    }

    /// The hot pair 3:1 against 1:3, 10 runs a side: hot_a's samples fall, hot_b's rise, both significantly;
    /// the differential flame graph colours hot_a blue and hot_b red.
    func testTheProfileOfTheHotPairTurnedAround() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: system-wide perf events need root here") }
        if let reason = ProfileModule().unavailableReason(SystemRoot()) { throw XCTSkip("SKIPPED: \(reason)") }
        let dir = temporaryDirectory()
        let exe = try compile("Tests/profile/hot-pair.c", ["-O1", "-g", "-fno-omit-frame-pointer"])
        // The program's processes only: a shared machine's other work adds rows to the Holm family.
        try "modules oprofile\noprofile.frequency 499\noprofile.scope program\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        for (name, ratio) in [("a", "3:1"), ("b", "1:3")] {
            let r = try Lockstat.run(["--config", dir + "/c.config", "--repeat", "10", dir + "/" + name, "taskset", "-c", "0", exe, "0.6", ratio])
            XCTAssertEqual(r.status, 0, r.err)
        }
        let r = try Lockstat.tool(["compare", dir + "/a", dir + "/b", "--output", dir + "/cmp", "--top", "20"])
        XCTAssertEqual(r.status, 0, r.err)
        let symbols = try table(r.out, "oprofile symbols")
        let a = symbols.first { $0.label.hasPrefix("hot_a ") }, b = symbols.first { $0.label.hasPrefix("hot_b ") }
        XCTAssertTrue(a?.change.hasPrefix("-") ?? false, "\(String(describing: a))\n\(r.out)")
        XCTAssertTrue(b?.change.hasPrefix("+") ?? false, "\(String(describing: b))\n\(r.out)")
        XCTAssertLessThan(Double(a?.p.replacingOccurrences(of: "<", with: "") ?? "") ?? 1, 0.05, r.out)
        XCTAssertLessThan(Double(b?.p.replacingOccurrences(of: "<", with: "") ?? "") ?? 1, 0.05, r.out)
        let svg = try String(contentsOfFile: dir + "/cmp/oprofile_samples_diff.svg", encoding: .utf8)
        func fill(_ frame: String) -> (r: Int, b: Int)? {
            guard let title = svg.range(of: "<title>\(frame) ("), let f = svg[title.upperBound...].range(of: "fill=\"rgb(") else { return nil }
            let parts = svg[f.upperBound...].prefix { $0 != ")" }.split(separator: ",").compactMap { Int($0) }
            return parts.count == 3 ? (parts[0], parts[2]) : nil
        }
        XCTAssertTrue(fill("hot_a").map { $0.b > $0.r } ?? false, "hot_a blue: \(String(describing: fill("hot_a")))")
        XCTAssertTrue(fill("hot_b").map { $0.r > $0.b } ?? false, "hot_b red: \(String(describing: fill("hot_b")))")
    }

    /// SIGINT to a set's lockstat: the current run's program gets it and its run finishes; the
    /// set stops after it, keeps what it has, and exits 130. A failing program's run is kept,
    /// reported and left out; parse of the set redoes each run and the summary.
    func testASetStopsAfterTheInterruptedRunAndKeepsFailuresApart() throws {
        let dir = temporaryDirectory()
        try "modules stat\nintervall 0.1\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let starts = dir + "/starts"
        let p = try Lockstat.start(["--config", dir + "/c.config", "--repeat", "5", dir + "/set",
                                    "sh", "-c", "echo >> \(starts); exec sleep 1.5"])
        // Each run's program adds a line as it starts: two lines, the second run is under way.
        XCTAssertTrue(eventually(60) { (try? String(contentsOfFile: starts, encoding: .utf8))?.count == 2 },
                      "the second run started")
        kill(p.processIdentifier, SIGINT)
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 128 + SIGINT)
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/set/set.json"))) as! [String: Any]
        let runs = summary["runs"] as! [[String: Any]]
        XCTAssertEqual(runs.count, 2, "the first run, and the interrupted second: \(runs)")
        XCTAssertEqual(runs.first?["counted"] as? Bool, true)
        XCTAssertEqual(runs.last?["exit_status"] as? Int, 128 + Int(SIGINT), "the program got the signal")
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/set/2/samples.pickle"), "the interrupted run finished")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/set/3"))
        // A program that fails every other run: kept, reported, left out.
        let failing = try Lockstat.run(["--config", dir + "/c.config", "--repeat", "3", dir + "/mixed", "sh", "-c", "sleep 0.3; test -e \(dir)/flag; s=$?; touch \(dir)/flag; exit $s"], quiet: false)
        XCTAssertEqual(failing.status, 1)
        XCTAssertTrue(failing.err.contains("3 runs in \(dir)/mixed: 2 counted, 1 failed and left out: 1 (status 1)"), failing.err)
        XCTAssertEqual(try Lockstat.tool(["parse", dir + "/mixed"]).status, 0)
        let compared = try Lockstat.tool(["compare", dir + "/mixed", dir + "/set", "--format", "json"])
        XCTAssertEqual(compared.status, 0, compared.err)
        let a = (try JSONSerialization.jsonObject(with: Data(compared.out.utf8)) as! [String: Any])["a"] as! [String: Any]
        XCTAssertEqual((a["runs"] as! [String]).count, 2)
        XCTAssertEqual((a["failed"] as! [[String: Any]]).count, 1)
    }

    /// Rows of one table of compare's text: label, A, B, change and p as printed.
    func table(_ text: String, _ title: String) throws -> [(label: String, a: Double, b: Double, change: String, p: String)] {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        guard let start = lines.firstIndex(where: { $0.hasPrefix(title + ":") }) else { XCTFail("no \(title) in\n\(text)"); return [] }
        var rows = [(label: String, a: Double, b: Double, change: String, p: String)]()
        for line in lines[(start + 2)...] {
            if line.isEmpty { break }
            if line.hasPrefix("  ") { continue }
            let label = String(line.prefix(ComparisonReport.labelWidth)).trimmingCharacters(in: .whitespaces)
            let rest = Array(line.dropFirst(ComparisonReport.labelWidth + 1))
            func cell(_ from: Int, _ width: Int) -> String {
                from < rest.count ? String(rest[from..<min(rest.count, from + width)]).trimmingCharacters(in: .whitespaces) : ""
            }
            let w = ComparisonReport.self
            var at = 0
            let a = cell(at, w.valueWidth); at += w.valueWidth + 1 + w.intervalWidth + 1
            let b = cell(at, w.valueWidth); at += w.valueWidth + 1 + w.intervalWidth + 1
            let change = cell(at, w.changeWidth); at += w.changeWidth + 1
            rows.append((label, try Self.value(a), try Self.value(b), change, cell(at, w.pWidth)))
        }
        return rows
    }

    /// "1.64 s/s", "286.44 us/s", "0 ns/s", "57.3/s", "1.2k/s", "12.50 %" → the number in the
    /// metric's own unit per second (times in seconds).
    static func value(_ text: String) throws -> Double {
        var t = text.hasSuffix("/s") ? String(text.dropLast(2)) : text
        var scale = 1.0
        for (suffix, s) in [(" ns", 1e-9), (" us", 1e-6), (" ms", 1e-3), (" s", 1.0), (" %", 1.0), ("k", 1e3), ("M", 1e6)] where t.hasSuffix(suffix) {
            scale = s
            t = String(t.dropLast(suffix.count))
            break
        }
        guard let v = Double(t) else { throw LockstatError("not a value: '\(text)'") }
        return v * scale
    }
}

/// A seeded generator, so the splits are the same in every run of the test.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E3779B97F4A7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58476D1CE4E5B9
        z = (z ^ (z >> 27)) &* 0x94D049BB133111EB
        return z ^ (z >> 31)
    }
}
