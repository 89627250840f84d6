import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// The run's page as text: escaping and its script's hash (the browser tests are in the system tier).
final class PageTests: XCTestCase {
    /// Names in every place a page puts them: element text, attributes, the script's data.
    func testNamesAreEscapedForWhereTheyLand() {
        let name = "</script><img src=x onerror=alert(1)>\"'&"
        var table = ResultTable(name: "t", metrics: [ResultColumn("n", "n", unit: "1", kind: .count)], labels: ["who"], defaultSort: "n")
        table.rows = [ResultRow(labels: [name], values: [1])]
        let page = RunPage(metadata: ["command": [name]], modules: [("m", Results(tables: [table], time: [0, 1],
                                                                                    series: [ResultSeries(name: name, unit: "1", values: [1, 2])]))], files: [name])
        let html = page.html
        XCTAssertFalse(html.contains("<img"))
        XCTAssertTrue(html.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&quot;&apos;&amp;"))
        XCTAssertTrue(html.contains("\\u003c/script\\u003e\\u003cimg"), "in the script's data")
        XCTAssertEqual(html.components(separatedBy: "</script>").count - 1, 2)
    }

    /// The CSP hash names the page's script exactly (checked against Python's hashlib).
    func testTheScriptHashIsSHA256() throws {
        let text = RunPageAssets.script
        let file = temporaryDirectory() + "/script.js"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let r = try shell(["python3", "-c", "import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1], 'rb').read()).digest()).decode())", file])
        XCTAssertEqual(SHA256.base64(text), r.out.trimmingCharacters(in: .whitespacesAndNewlines))
        XCTAssertEqual(SHA256.base64(""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
    }
}
