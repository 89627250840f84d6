import Foundation
import XCTest
@testable import LockstatCharts

/// The flame graph's own script, run by node against a small stand-in for the DOM: click to
/// zoom hides what is outside the clicked frame, Search highlights and measures matches.
final class FlameGraphTests: XCTestCase {
    static let harness = #"""
    const fs = require('fs');
    const svg = fs.readFileSync(process.argv[2], 'utf8');
    const parsed = [...svg.matchAll(/<g class="f" data-x="([^"]+)" data-w="([^"]+)" data-d="([^"]+)"[^>]*><title>([^<]*)<\/title><rect ([^>]*)\/><text[^>]*>([^<]*)<\/text><\/g>/g)];
    function el(fill) { return { a: { fill }, style: {}, dataset: {}, setAttribute(k, v) { this.a[k] = String(v); }, getAttribute(k) { return this.a[k]; }, textContent: '' }; }
    const gs = parsed.map(m => { const rect = el('red'), text = el(), title = el(); title.textContent = m[4];
      return { dataset: { x: m[1], w: m[2], d: m[3] }, style: {}, querySelector(q) { return q === 'rect' ? rect : q === 'text' ? text : title; } }; });
    const ids = { details: el(), matched: el() };
    global.document = { querySelectorAll: () => gs, getElementById: id => ids[id] };
    global.prompt = () => process.argv[3];
    const script = svg.match(/<!\[CDATA\[([\s\S]*)\]\]>/)[1];
    eval(script + '; global.zoom = zoom; global.search = search;');
    zoom(gs.find(g => g.querySelector('title').textContent.startsWith(process.argv[4])));
    const shown = gs.filter(g => g.style.display !== 'none').map(g => g.querySelector('title').textContent.split(' ')[0]);
    search();
    const hit = gs.filter(g => g.querySelector('rect').getAttribute('fill') === 'rgb(230,0,230)').length;
    console.log(JSON.stringify({ frames: gs.length, shown: shown.sort(), matched: ids.matched.textContent, hit }));
    """#

    func testZoomAndSearchWork() throws {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/node") || (try? shell(["which", "node"]).status) == 0 else {
            throw XCTSkip("SKIPPED: node is not installed to run the flame graph's script")
        }
        let graph = FlameGraph(title: "t <&>", countName: "ns", stacks: [
            (["root", "mkdir", "down_write"], 75), (["root", "rmdir", "down_write"], 20), (["root", "pipe", "spin"], 5),
        ]).render()
        let dir = temporaryDirectory()
        try graph.write(toFile: dir + "/f.svg", atomically: true, encoding: .utf8)
        try Self.harness.write(toFile: dir + "/h.js", atomically: true, encoding: .utf8)
        let r = try shell(["node", dir + "/h.js", dir + "/f.svg", "down_write", "rmdir"])
        XCTAssertEqual(r.status, 0, r.err)
        let out = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any]
        XCTAssertEqual(out?["frames"] as? Int, 8, "all, root, 3 calls, 3 leaves")
        XCTAssertEqual(out?["shown"] as? [String], ["all", "down_write", "rmdir", "root"], "zoomed into rmdir: its ancestors and its subtree")
        XCTAssertEqual(out?["matched"] as? String, "Matched: 95.0%", "down_write holds 75 + 20 of 100")
        XCTAssertEqual(out?["hit"] as? Int, 2)
        XCTAssertTrue(graph.contains("<title>t &lt;&amp;&gt;") || graph.contains("t &lt;&amp;&gt;"))
    }
}
