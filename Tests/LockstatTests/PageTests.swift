import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// DIR/index.html, opened in a real browser (headless Chromium through Selenium,
/// Tests/html/check-page.py), with JavaScript and without, for a real run, a run of hostile
/// names, and an hour-long run.
final class PageTests: XCTestCase {
    func requireBrowser() throws {
        for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] where !FileManager.default.isExecutableFile(atPath: tool) {
            throw XCTSkip("SKIPPED: \(tool) missing (apt-get install chromium chromium-driver; .ci/run does)")
        }
        guard try shell(["python3", "-c", "import selenium"]).status == 0 else {
            throw XCTSkip("SKIPPED: no selenium for python3 (pip install selenium; .ci/run does)")
        }
    }

    func requireRoot() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: the contention and oprofile modules need root here") }
    }

    /// What check-page.py saw of the page.
    func browse(_ page: String, javascript: Bool = true) throws -> [String: Any] {
        let shots = URL(fileURLWithPath: page).deletingLastPathComponent().path + (javascript ? "/screenshots" : "/screenshots-nojs")
        try FileManager.default.createDirectory(atPath: shots, withIntermediateDirectories: true)
        let r = try shell(["python3", Fixtures.repository.path + "/Tests/html/check-page.py", page, shots] + (javascript ? [] : ["--no-javascript"]))
        XCTAssertEqual(r.status, 0, r.err)
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any] ?? [:]
    }

    func compile(_ source: String, at path: String) throws -> String {
        try source.write(toFile: path + ".c", atomically: true, encoding: .utf8)
        let cc = try shell(["cc", "-O1", "-fno-omit-frame-pointer", "-o", path, path + ".c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        return path
    }

    /// A run with every built-in module (lock_stat is skipped on this kernel: the page says why).
    func testThePageOfARealRunWorksInABrowserAndWithoutJavaScript() throws {
        try requireRoot()
        try requireBrowser()
        let dir = temporaryDirectory()
        let storm = dir + "/mkdir-storm"
        XCTAssertEqual(try shell(["cc", "-O2", "-o", storm, Fixtures.repository.path + "/Tests/contention/mkdir-storm.c"]).status, 0)
        try FileManager.default.createDirectory(atPath: dir + "/work", withIntermediateDirectories: true)
        try "modules stat diskstats lock_stat contention oprofile\nintervall 0.1\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", storm, dir + "/work", "1.5", "4"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("  open \(dir)/run/index.html: the whole run on one page"), "the summary names the page: \(r.err)")
        let page = dir + "/run/index.html"
        let seen = try browse(page)
        XCTAssertEqual(seen["console_errors"] as? [String], [], "\(seen["console_errors"] ?? "")")
        XCTAssertEqual(seen["requests"] as? [String], [], "no network request")
        let sections = seen["sections"] as? [String] ?? []
        for module in ["stat", "diskstats", "contention", "oprofile", "lock_stat"] { XCTAssertTrue(sections.contains("m-" + module), "\(module) in \(sections)") }
        let text = seen["text"] as? String ?? ""
        XCTAssertTrue(text.contains("skipped: ") && text.contains("lock_stat"), "why lock_stat is missing")
        let desc = seen["sorted_desc"] as? [Double] ?? [], asc = seen["sorted_asc"] as? [Double] ?? []
        XCTAssertGreaterThanOrEqual(desc.count, 3)
        XCTAssertEqual(desc, desc.sorted(by: >), "sorted most first")
        XCTAssertEqual(asc, asc.sorted(), "then least first")
        let filter = seen["filter"] as? [String: Any] ?? [:]
        XCTAssertLessThan(filter["visible"] as? Int ?? .max, filter["rows"] as? Int ?? 0, "\(filter)")
        XCTAssertGreaterThan(filter["visible"] as? Int ?? 0, 0, "\(filter)")
        XCTAssertEqual(filter["all_match"] as? Bool, true, "\(filter)")
        let zoom = seen["zoom"] as? [String: Double] ?? [:]
        XCTAssertLessThan(zoom["before"] ?? 1180, 1180)
        XCTAssertEqual(zoom["after"] ?? 0, 1180, accuracy: 0.5, "the clicked frame fills the width")
        let cursor = seen["cursor"] as? [String: Any] ?? [:]
        XCTAssertEqual(cursor["visibility"] as? String, "visible", "\(cursor)")
        XCTAssertTrue((cursor["readout"] as? String ?? "").hasPrefix("t = "), "\(cursor)")
        for shot in ["page-top.png", "flame-zoomed.png", "cursor.png"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/run/screenshots/" + shot), shot)
        }
        XCTAssertNil(seen["alert"] as? String)
        // Without JavaScript: the same tables (every row embedded) and charts, no buttons.
        let plain = try browse(page, javascript: false)
        XCTAssertEqual(plain["tables"] as? Int, seen["tables"] as? Int)
        XCTAssertGreaterThanOrEqual(plain["table_rows"] as? Int ?? 0, seen["table_rows"] as? Int ?? .max)
        XCTAssertGreaterThan(plain["charts"] as? Int ?? 0, 1)
        XCTAssertGreaterThan(plain["flames"] as? Int ?? 0, 0)
        XCTAssertEqual(plain["buttons"] as? Int, 0)
        // `lockstat graph` writes the same page again.
        let before = try String(contentsOfFile: page, encoding: .utf8)
        try FileManager.default.removeItem(atPath: page)
        XCTAssertEqual(try Lockstat.tool(["graph", dir + "/run"]).status, 0)
        XCTAssertEqual(try String(contentsOfFile: page, encoding: .utf8), before)
    }

    /// A process and a symbol named to break out of the page: shown as text, nothing runs.
    func testHostileProcessAndSymbolNamesStayText() throws {
        try requireRoot()
        try requireBrowser()
        let dir = temporaryDirectory()
        let name = "</script><img src=x onerror=alert(1)>'q"
        let exe = try compile("""
            #include <stdlib.h>
            #include <sys/prctl.h>
            #include <time.h>
            volatile unsigned long sink;
            __attribute__((noinline)) void spin(void) __asm__("\\"\(name)\\"");
            __attribute__((noinline)) void spin(void) { for (unsigned long i = 0; i < 20000000UL; i++) sink = sink * 6364136223846793005UL + 1; }
            int main(int argc, char **argv) {
                prctl(PR_SET_NAME, "<img src=x '\\"", 0, 0, 0);
                struct timespec t0, t;
                clock_gettime(CLOCK_MONOTONIC, &t0);
                do { spin(); clock_gettime(CLOCK_MONOTONIC, &t); } while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < atof(argv[1]));
                return 0;
            }
            """, at: dir + "/hostile")
        try "modules stat oprofile\noprofile.frequency 199\n".write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        XCTAssertEqual(try Lockstat.run(["--config", dir + "/c.config", dir + "/run", exe, "1.5"]).status, 0)
        let html = try String(contentsOfFile: dir + "/run/index.html", encoding: .utf8)
        XCTAssertFalse(html.contains("<img"), "no element made of a name")
        XCTAssertEqual(html.components(separatedBy: "</script>").count - 1, 2, "only the page's own two script elements end")
        let seen = try browse(dir + "/run/index.html")
        XCTAssertNil(seen["alert"] as? String, "no script ran")
        XCTAssertEqual(seen["images"] as? Int, 0)
        XCTAssertEqual(seen["console_errors"] as? [String], [])
        let text = seen["text"] as? String ?? ""
        XCTAssertTrue(text.contains(name), "the symbol, as text")
        XCTAssertTrue(text.contains("<img src=x '\""), "the process name, as text")
    }

}
