import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Where `export` and `compare --output` write, and what a repeat set may list: an output folder
/// is never a run or a set, each kind of output replaces only its own files, counts from the
/// command line and from set.json are bounded, a set's runs are its own folders.
final class OutputFolderTests: XCTestCase {
    /// A small run of `program` (the stat module only) in `path`.
    @discardableResult
    func makeRun(_ path: String, _ program: [String] = ["true"], modules: String = "stat") throws -> String {
        let r = try Lockstat.run(["--modules", modules, path] + program)
        XCTAssertEqual(r.status, 0, r.err)
        return path
    }

    /// A set of `count` small runs in `path`.
    func makeSet(_ path: String, count: Int = 2) throws -> String {
        let r = try Lockstat.run(["--modules", "stat", "--repeat", String(count), path, "true"])
        XCTAssertEqual(r.status, 0, r.err)
        return path
    }

    /// Every file and folder under `path` (symlinks not followed) with its inode, size and
    /// modification time: equal snapshots mean nothing was removed, replaced or written.
    func snapshot(_ path: String) throws -> [String: [Int]] {
        var result = [String: [Int]]()
        let enumerator = FileManager.default.enumerator(atPath: path)
        while let name = enumerator?.nextObject() as? String {
            var st = stat()
            XCTAssertEqual(lstat(path + "/" + name, &st), 0, name)
            result[name] = [Int(st.st_ino), Int(st.st_size), st.st_mtim.tv_sec, st.st_mtim.tv_nsec]
        }
        return result
    }

    func files(_ path: String) throws -> Set<String> {
        Set(try FileManager.default.contentsOfDirectory(atPath: path))
    }

    /// One line on stderr, `lockstat: ` and then `start`.
    func assertOneLine(_ err: String, startsWith start: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertTrue(err.hasPrefix("lockstat: " + start), err, file: file, line: line)
        XCTAssertTrue(err.hasSuffix("\n") && !err.dropLast().contains("\n"), "one line: \(err)", file: file, line: line)
    }

    // MARK: Output folders

    /// `export --output DIR` and `compare --output DIR` into a run, a repeat set or one of its
    /// runs: refused naming the folder, exit 1, not a file of it changed.
    func testAnOutputFolderThatHoldsARunOrASetIsRefusedAndNothingChanges() throws {
        let dir = temporaryDirectory()
        let run = try makeRun(dir + "/run"), set = try makeSet(dir + "/set")
        let before = try snapshot(dir)
        for target in [run, set, set + "/1"] {
            let export = try Lockstat.tool(["export", run, "--format", "csv", "--output", target])
            XCTAssertEqual(export.status, 1, "export into \(target): \(export.err)")
            assertOneLine(export.err, startsWith: target + ": holds a ")
            let compare = try Lockstat.tool(["compare", run, run, "--output", target])
            XCTAssertEqual(compare.status, 1, "compare into \(target): \(compare.err)")
            assertOneLine(compare.err, startsWith: target + ": holds a ")
            XCTAssertEqual(compare.out, "", "refused before anything is compared")
            XCTAssertEqual(try snapshot(dir), before, "nothing changed after output into \(target)")
        }
        // The run is whole: it compares as before.
        XCTAssertEqual(try Lockstat.tool(["compare", run, set]).status, 0)
        // The default output folder, DIR/export, goes by the same rule: a run made there is kept.
        try makeRun(run + "/export")
        let inner = try snapshot(run + "/export")
        let export = try Lockstat.tool(["export", run, "--format", "csv"])
        XCTAssertEqual(export.status, 1, export.err)
        assertOneLine(export.err, startsWith: run + "/export: holds a run")
        XCTAssertEqual(try snapshot(run + "/export"), inner)
    }

    /// csv, openmetrics, pprof (where the profile can run) and compare's files into one folder
    /// one after another: all coexist, a later output of a kind replaces that kind's files only,
    /// and a file of the user's stays.
    func testEachKindOfOutputReplacesOnlyItsOwnFiles() throws {
        let dir = temporaryDirectory()
        let wide = try makeRun(dir + "/wide", ["sleep", "0.2"], modules: "stat,diskstats")
        let narrow = try makeRun(dir + "/narrow")
        let out = wide + "/export"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "mine\n".write(toFile: out + "/notes.txt", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Lockstat.tool(["export", wide, "--format", "csv"]).status, 0)
        let csv = try files(out).filter { $0.hasSuffix(".csv") }
        XCTAssertTrue(csv.contains("stat_cpus.csv") && csv.contains("diskstats_devices.csv"), "\(csv)")
        let om = try Lockstat.tool(["export", wide, "--format", "openmetrics"])
        XCTAssertEqual(om.status, 0, om.err)
        var expected = csv.union(["lockstat.om", "notes.txt"])
        if getuid() == 0, ProfileModule().unavailableReason(SystemRoot()) == nil {
            let profiled = try makeRun(dir + "/profiled", ["sleep", "0.2"], modules: "oprofile")
            let pprof = try Lockstat.tool(["export", profiled, "--format", "pprof", "--output", out])
            XCTAssertEqual(pprof.status, 0, pprof.err)
            expected.insert("cpu.pb.gz")
        }
        let compare = try Lockstat.tool(["compare", wide, narrow, "--output", out])
        XCTAssertEqual(compare.status, 0, compare.err)
        expected.formUnion(["compare.json", "index.html"])
        XCTAssertEqual(try files(out).filter { !$0.hasPrefix(".") }, expected, "every kind's files side by side")
        // A later csv export, of a run with fewer tables: the earlier csv files go, no others.
        let again = try Lockstat.tool(["export", narrow, "--format", "csv", "--output", out])
        XCTAssertEqual(again.status, 0, again.err)
        expected.subtract(csv.filter { !$0.hasPrefix("stat_") })
        XCTAssertEqual(try files(out).filter { !$0.hasPrefix(".") }, expected)
        XCTAssertFalse(try files(out).contains(".lockstat-files"), "an output folder has no run's manifest")
        XCTAssertEqual(try String(contentsOfFile: out + "/notes.txt", encoding: .utf8), "mine\n")
        // The run it sits in is untouched by all of this and still reads.
        XCTAssertEqual(try Lockstat.tool(["compare", wide, narrow]).status, 0)
    }

    // MARK: Counts

    /// `--repeat` and `--warmup` beyond 1…10000 (0…10000): exit 2 naming the option and the
    /// range, nothing created, no memory taken for the count (1 GB of address space is plenty).
    func testRepeatAndWarmupOutOfRangeAreUsageErrors() throws {
        let dir = temporaryDirectory()
        let cases: [([String], String)] = [
            (["--repeat", "9223372036854775807"], "--repeat: must be from 1 to 10000, got 9223372036854775807"),
            (["--repeat", "1", "--warmup", "9223372036854775807"], "--warmup: must be from 0 to 10000, got 9223372036854775807"),
            (["--repeat", "10001"], "--repeat: must be from 1 to 10000, got 10001"),
            (["--repeat", "0"], "--repeat: must be from 1 to 10000, got 0"),
            (["--repeat", "2", "--warmup", "10001"], "--warmup: must be from 0 to 10000, got 10001"),
        ]
        for (options, message) in cases {
            // A program that fails stops the set at once should the count not be refused.
            let words = [Lockstat.binaries + "/lockstat-run", "--quiet", "--stop-on-failure"] + options + [dir + "/set", "false"]
            let r = try shell(["sh", "-c", "ulimit -v 1048576; exec \"$@\"", "sh"] + words)
            XCTAssertEqual(r.status, 2, "\(options): \(r.err)")
            XCTAssertEqual(r.err, "lockstat: \(message)\n")
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/set"), "\(options): nothing created")
        }
    }

    /// A set.json listing more than 10000 runs: compare, parse and report refuse it in one line
    /// naming set.json and the limit, within 1 GB of address space, whatever the file's size.
    func testASetJSONListingTooManyRunsIsRefused() throws {
        let dir = temporaryDirectory()
        let set = try makeSet(dir + "/set"), run = try makeRun(dir + "/run")
        let summary = set + "/set.json"
        func rewrite(_ edit: String) throws {
            let py = try shell(["python3", "-c", "import json, sys\nd = json.load(open(sys.argv[1]))\n" + edit + "\njson.dump(d, open(sys.argv[1], 'w'))", summary])
            XCTAssertEqual(py.status, 0, py.err)
        }
        for count in [10001, 100_000] {
            try rewrite("d['runs'] = [d['runs'][0]] * \(count)")
            for command in [["compare", set, run], ["report", set], ["parse", set]] {
                let r = try shell(["sh", "-c", "ulimit -v 1048576; exec \"$@\"", "sh", Lockstat.binaries + "/lockstat"] + command)
                XCTAssertEqual(r.status, 1, "\(command) with \(count) runs: \(r.err)")
                XCTAssertEqual(r.err, "lockstat: \(summary): lists more than 10000 runs (the most a set holds)\n")
            }
        }
        // A runs list padded past what 10000 runs take is refused as it is read, not after.
        try rewrite("d['runs'] = [dict(d['runs'][0], pad=' ' * 100000)] * 200")
        let padded = try shell(["sh", "-c", "ulimit -v 1048576; exec \"$@\"", "sh", Lockstat.binaries + "/lockstat", "compare", set, run])
        XCTAssertEqual(padded.status, 1, padded.err)
        assertOneLine(padded.err, startsWith: summary + ": its runs list is longer than")
        // Without set.json, numbered folders are the set: at most 10000 of them too.
        try FileManager.default.removeItem(atPath: summary)
        for n in 3...10002 {
            XCTAssertEqual(mkdir(set + "/\(n)", 0o755), 0)
            let fd = open(set + "/\(n)/lockstat.config", O_WRONLY | O_CREAT | O_EXCL, 0o644)
            XCTAssertGreaterThanOrEqual(fd, 0)
            close(fd)
        }
        let folders = try Lockstat.tool(["compare", set, run])
        XCTAssertEqual(folders.status, 1, folders.err)
        XCTAssertEqual(folders.err, "lockstat: \(set): holds more than 10000 numbered run folders and no set.json (the most a set holds)\n")
    }

    // MARK: A set's runs

    /// set.json naming a run outside the set (`../`, an absolute path, a symlink out): refused
    /// naming set.json and the entry, before any run is read.
    func testASetsRunsArePlainFoldersInsideTheSet() throws {
        let dir = temporaryDirectory()
        let set = try makeSet(dir + "/set"), other = try makeSet(dir + "/other"), outside = try makeRun(dir + "/outside")
        try FileManager.default.createSymbolicLink(atPath: set + "/link", withDestinationPath: outside)
        let summary = set + "/set.json"
        let original = try String(contentsOfFile: summary, encoding: .utf8)
        for entry in ["../outside", outside, "link", "1/../../outside", ".", "", "missing"] {
            let json = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(original.utf8)) as? [String: Any])
            var runs = try XCTUnwrap(json["runs"] as? [[String: Any]])
            runs[1]["directory"] = entry
            var edited = json
            edited["runs"] = runs
            try JSONSerialization.data(withJSONObject: edited).write(to: URL(fileURLWithPath: summary))
            for command in [["compare", set, other, "--format", "json"], ["report", set], ["graph", set]] {
                let r = try Lockstat.tool(command)
                XCTAssertEqual(r.status, 1, "\(command) with '\(entry)': \(r.err)")
                assertOneLine(r.err, startsWith: "\(summary): run '\(entry)' ")
                XCTAssertFalse(r.out.contains(outside), "nothing of \(outside) read")
            }
        }
        try original.write(toFile: summary, atomically: true, encoding: .utf8)
        XCTAssertEqual(try Lockstat.tool(["compare", set, other]).status, 0, "the set as written compares")
    }

    // MARK: --metric

    /// An unknown `compare --metric`: exit 2 listing the metrics the runs' tables have; a known
    /// one compares.
    func testAnUnknownCompareMetricIsAUsageError() throws {
        let dir = temporaryDirectory()
        let a = try makeRun(dir + "/a"), b = try makeRun(dir + "/b")
        let r = try Lockstat.tool(["compare", a, b, "--metric", "bogus", "--output", dir + "/cmp"])
        XCTAssertEqual(r.status, 2, r.err)
        assertOneLine(r.err, startsWith: "--metric: unknown metric 'bogus'; ")
        XCTAssertTrue(r.err.contains("stat cpus: busy, usr, sys"), r.err)
        XCTAssertEqual(r.out, "")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/cmp"))
        let known = try Lockstat.tool(["compare", a, b, "--metric", "sys", "--format", "json"])
        XCTAssertEqual(known.status, 0, known.err)
        XCTAssertTrue(known.out.contains("\"metric\": \"sys\""), known.out)
    }
}
