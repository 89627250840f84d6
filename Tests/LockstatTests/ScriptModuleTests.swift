import Foundation
import XCTest
@testable import LockstatCore

/// Drop-in modules: Python 3 files and executables on the module path.
final class ScriptModuleTests: XCTestCase {
    /// A folder with a config and the given module files (mode 644, executables 755).
    func setUp(modules: [String: String], executable: Set<String> = [], config: String) throws -> String {
        let dir = temporaryDirectory(name)
        try FileManager.default.createDirectory(atPath: dir + "/mods", withIntermediateDirectories: true)
        for (file, text) in modules {
            try text.write(toFile: dir + "/mods/" + file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: executable.contains(file) ? 0o755 : 0o644], ofItemAtPath: dir + "/mods/" + file)
        }
        try config.write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        return dir
    }

    func testShippedExamplesEndToEndAndParseGraphAgain() throws {
        let dir = temporaryDirectory()
        let config = dir + "/c.config"
        try "modules stat meminfo loadavg\nmodule_path \(Fixtures.repository.path)/modules\nintervall 0.2\n".write(toFile: config, atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", config, dir + "/run", "sleep", "1.1"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        // The modules' files are part of the run: written in it, and listed on its page.
        let files = (FileManager.default.enumerator(atPath: dir + "/run")?.allObjects as? [String]) ?? []
        XCTAssertTrue(files.contains { $0.hasSuffix("meminfo.svg") } && files.contains { $0.hasSuffix("loadavg.txt") }, "\(files)")
        let page = try String(contentsOfFile: dir + "/run/index.html", encoding: .utf8)
        XCTAssertTrue(page.contains("meminfo.svg") && page.contains("loadavg.txt"), "the page lists the modules' files")
        let script = """
        import pickle, sys
        d = pickle.load(open(sys.argv[1] + '/samples.pickle', 'rb'))
        m, l = d['meminfo'], d['loadavg']
        assert len(m['tick']) >= 5 and m['tick'] == sorted(m['tick']), m['tick']
        assert all(isinstance(v, int) and v > 0 for v in m['MemTotal']), m['MemTotal']
        assert len(l['load1']) == len(l['tick']) >= 5 and all(isinstance(v, float) for v in l['load1'])
        print('ok')
        """
        XCTAssertEqual(try shell(["python3", "-c", script, dir + "/run"]).out, "ok\n")
        let before = try Lockstat.samples(dir + "/run")
        try FileManager.default.removeItem(atPath: dir + "/run/meminfo.svg")
        XCTAssertEqual(try Lockstat.tool(["parse", dir + "/run"]).status, 0)
        XCTAssertEqual(try Lockstat.samples(dir + "/run"), before)
        let g = try Lockstat.tool(["graph", dir + "/run"])
        XCTAssertEqual(g.status, 0, g.err)
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/meminfo.svg"))
        XCTAssertTrue(try shell(["python3", "-c", "import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])", dir + "/run/meminfo.svg"]).status == 0)
    }

    func testParseValueIsStoredExactlyAsPythonPicklesIt() throws {
        let module = """
        import numpy
        def parse(test_dir):
            return {"tuple": (1, "a"), "set": {1, 2}, "nested": {"a": {"b": [1.5, None]}}, "float": 2.5,
                    "array": numpy.arange(4, dtype=numpy.float64)}
        """
        let dir = try setUp(modules: ["types.py": module], config: "modules stat types\nmodule_path mods\n")
        XCTAssertEqual(try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"]).status, 0)
        let check = """
        import json, pickle, sys
        import numpy
        d = pickle.load(open(sys.argv[1] + '/samples.pickle', 'rb'))['types']
        assert type(d["array"]) is numpy.ndarray and d["array"].tolist() == [0.0, 1.0, 2.0, 3.0], d["array"]
        del d["array"]
        assert d == {"tuple": (1, "a"), "set": {1, 2}, "nested": {"a": {"b": [1.5, None]}}, "float": 2.5}, d
        assert type(d["tuple"]) is tuple and type(d["set"]) is set and type(d["float"]) is float
        j = json.load(open(sys.argv[1] + '/samples.json'))['types']
        assert "_lockstat_note" in j, j
        print('ok')
        """
        let r = try shell(["python3", "-c", check, dir + "/run"])
        XCTAssertEqual(r.out, "ok\n", r.err)
        XCTAssertEqual(try Lockstat.tool(["graph", dir + "/run"]).status, 0, "lockstat reads the pickle back")
    }

    func testAnExceptionEveryThirdTickIsReportedAndTheRunCompletes() throws {
        let module = """
        def sample(test_dir, t):
            if t % 3 == 2:
                raise ValueError("tick %d is bad" % t)
        """
        let dir = try setUp(modules: ["flaky.py": module], config: "modules stat flaky\nmodule_path mods\nintervall 0.1\n")
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sh", "-c", "sleep 1; exit 3"], quiet: false)
        XCTAssertEqual(r.status, 3, "the program's status")
        XCTAssertTrue(r.err.contains("module flaky: sample (tick 2) failed:\nTraceback"), r.err)
        XCTAssertTrue(r.err.contains("ValueError: tick 2 is bad"), r.err)
        XCTAssertEqual(r.err.components(separatedBy: "Traceback").count, 2, "printed once, counted after")
        let errors = try String(contentsOfFile: dir + "/run/samples/flaky.errors", encoding: .utf8)
        let failures = errors.components(separatedBy: "Traceback").count - 1
        XCTAssertGreaterThanOrEqual(failures, 3)
        let summary = r.err.split(separator: "\n").first { $0.hasPrefix("  flaky:") } ?? ""
        XCTAssertTrue(summary.contains("\(failures) failed samples"), String(summary))
        let stat = r.err.split(separator: "\n").first { $0.hasPrefix("  stat:") } ?? ""
        XCTAssertTrue(stat.hasSuffix(" 0 missed ticks"), "other modules unaffected: \(stat)")
        XCTAssertNotNil(try Lockstat.samples(dir + "/run")["stat"])
    }

    func testASlowSampleMissesItsOwnTicksNotOthers() throws {
        let module = "import time\ndef sample(test_dir, t):\n    time.sleep(0.35)\n"
        let dir = try setUp(modules: ["slow.py": module], config: "modules stat slow\nmodule_path mods\nintervall 0.1\n")
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sleep", "1.5"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let lines = r.err.split(separator: "\n")
        let slow = lines.first { $0.hasPrefix("  slow:") } ?? "", stat = lines.first { $0.hasPrefix("  stat:") } ?? ""
        let missed = Int(slow.split(separator: " ").dropLast(2).last ?? "") ?? 0
        XCTAssertGreaterThanOrEqual(missed, 8, String(slow))
        XCTAssertTrue(stat.hasSuffix(" 0 missed ticks"), String(stat))
        XCTAssertEqual(try RawLog.read(path: dir + "/run/samples/slow.log").missedTicks, UInt64(missed))
    }

    func testAPython2ModuleSaysItNeedsPython3() throws {
        let dir = try setUp(modules: ["old.py": "def sample(test_dir, t):\n    print \"tick\", t\n"], config: "modules stat old\nmodule_path mods\n")
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("lockstat: warning: module old skipped: \(dir)/mods/old.py:2: this module is written for Python 2 and needs Python 3: print \"tick\", t\n"),
                      "the one-line warning carries the reason: \(r.err)")
        XCTAssertFalse(r.err.contains("parse failed"), "a module that never sampled is simply absent: \(r.err)")
        XCTAssertEqual(try Lockstat.samples(dir + "/run")["old"], PyValue.none)
        let output = try String(contentsOfFile: dir + "/run/samples/old.output", encoding: .utf8)
        XCTAssertTrue(output.contains("written for Python 2 and needs Python 3"), output)
    }

    func testModulesOthersMayWriteAreRefused() throws {
        let dir = try setUp(modules: ["open.py": "def sample(d, t): pass\n"], config: "modules stat open\nmodule_path mods\n")
        try FileManager.default.setAttributes([.posixPermissions: 0o664], ofItemAtPath: dir + "/mods/open.py")
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(r.status, 2)
        XCTAssertTrue(r.err.hasPrefix("lockstat: \(dir)/mods/open.py: refusing module open: mode 664"), r.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/run"))
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: dir + "/mods/open.py")
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: dir + "/mods")
        let folder = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(folder.status, 2)
        XCTAssertTrue(folder.err.contains("refusing module folder"), folder.err)
        // doctor names the file it would refuse.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir + "/mods")
        try FileManager.default.setAttributes([.posixPermissions: 0o666], ofItemAtPath: dir + "/mods/open.py")
        let doctor = try Lockstat.tool(["doctor", "--config", dir + "/c.config"])
        XCTAssertEqual(doctor.status, 1)
        XCTAssertTrue(doctor.out.contains("✗ \(dir)/mods/open.py: would be refused"), doctor.out)
    }

    func testUnknownModuleNamesThePathsSearchedAndRelativePathsFollowTheConfig() throws {
        let dir = try setUp(modules: ["here.py": "def parse(d):\n    return 7\n"], config: "modules stat hre\nmodule_path mods\n")
        let r = try shell(["sh", "-c", "cd / && \(Lockstat.binaries)/lockstat-run --quiet --config \(dir)/c.config \(dir)/run true"])
        XCTAssertEqual(r.status, 2)
        XCTAssertEqual(r.err, "lockstat: \(dir)/c.config:1: unknown module 'hre' in key 'modules' (did you mean 'here'?) (not built in, nor in \(dir)/mods)\n")
        try "modules stat here\nmodule_path mods\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let ok = try shell(["sh", "-c", "cd / && \(Lockstat.binaries)/lockstat-run --quiet --config \(dir)/c.config \(dir)/run true"])
        XCTAssertEqual(ok.status, 0, ok.err)
        XCTAssertEqual(try Lockstat.samples(dir + "/run")["here"], .int(7), "parse's 7, as Python pickled it")
    }
}
