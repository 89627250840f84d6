/// A flame graph in one self-contained SVG (after Brendan Gregg's flamegraph.pl): stacks root
/// at the bottom, width by weight, siblings sorted by name; hover for a tooltip, click a frame
/// to zoom into it (click the bottom frame to reset), "Search" highlights frames by regex.
public struct FlameGraph {
    public var title: String
    /// What the weights count, e.g. "ns of wait".
    public var countName: String
    public var stacks: [(frames: [String], weight: Double)]
    /// A colour family per frame name (the profile's kernel / program / library frames); frames
    /// not in it get the warm default.
    public var hues: [String: Hue]
    /// One line under the title, e.g. the colours' legend.
    public var subtitle: String?
    /// A differential flame graph (flamegraph.pl's convention): widths are `stacks`' (B), and
    /// each frame is red where it grew against these stacks (A) and blue where it shrank, the
    /// deeper the colour the larger the change; the tooltip gives both.
    public var baseline: [(frames: [String], weight: Double)]?
    /// Frames narrower than this many pixels are left out, with everything above them
    /// (flamegraph.pl's --minwidth; its default 0.1).
    public var minWidth = 0.1
    /// For a page that holds several: no script and no inline event handlers (the page wires
    /// zoom, details and search itself), classes instead of ids.
    public var embedded = false

    /// Colour families, after flamegraph.pl's palettes: its kernel frames are orange, user code red.
    public enum Hue: Sendable { case warm, red, orange, yellow, grey }

    public init(
        title: String, countName: String, stacks: [(frames: [String], weight: Double)], hues: [String: Hue] = [:],
        subtitle: String? = nil,
        baseline: [(frames: [String], weight: Double)]? = nil
    ) {
        self.baseline = baseline
        self.title = title
        self.countName = countName
        self.stacks = stacks
        self.hues = hues
        self.subtitle = subtitle
    }

    final class Node {
        let name: String
        var weight = 0.0
        var children: [String: Node] = [:]
        init(_ name: String) { self.name = name }
    }

    static let width = 1200.0, frameHeight = 16.0, top = 50.0

    static func tree(_ stacks: [(frames: [String], weight: Double)]) -> Node {
        let root = Node("all")
        for s in stacks where s.weight > 0 {
            root.weight += s.weight
            var node = root
            for f in s.frames {
                let child = node.children[f] ?? Node(f)
                node.children[f] = child
                child.weight += s.weight
                node = child
            }
        }
        return root
    }

    /// The largest change of any frame against the baseline, for the colour scale.
    static func largestChange(_ n: Node, _ base: Node?) -> Double {
        n.children.values.reduce(abs(n.weight - (base?.weight ?? 0))) {
            max($0, largestChange($1, base?.children[$1.name]))
        }
    }

    /// Red (grew) or blue (shrank), deeper with the change's share of the largest one.
    static func differentialColor(_ delta: Double, scale: Double) -> String {
        let t = scale > 0 ? min(1, abs(delta) / scale) : 0
        let fade = Int(235 - 185 * t)
        return delta >= 0 ? "rgb(250,\(fade),\(fade))" : "rgb(\(fade),\(fade),250)"
    }

    public func render() -> String { rendered().svg.document }

    /// The graph, and how many frames were narrower than `minWidth` and left out.
    public func rendered() -> (svg: SVG, pruned: Int) {
        let root = Self.tree(stacks)
        let baseRoot = baseline.map(Self.tree)
        let scale = baseRoot.map { Self.largestChange(root, $0) } ?? 0
        var depth = 0
        func measure(_ n: Node, _ d: Int) {
            depth = max(depth, d)
            n.children.values.forEach { measure($0, d + 1) }
        }
        measure(root, 0)
        let height = Self.top + Double(depth + 1) * Self.frameHeight + 30
        var svg = SVG(width: Int(Self.width), height: Int(height))
        svg.raw(
            "<style>.f text{font-size:11px;pointer-events:none} .f:hover rect{stroke:#000;stroke-width:0.5} #details,.details{font-size:12px}</style>"
        )
        svg.rect(x: 0, y: 0, width: Self.width, height: height, fill: "#fdf6e3")
        svg.text(title, x: Self.width / 2, y: 22, size: 16, anchor: .middle, weight: "bold")
        if let subtitle { svg.text(subtitle, x: Self.width / 2, y: 40, size: 12, anchor: .middle) }
        if embedded {
            svg.raw(
                "<text class=\"matched\" x=\"\(Int(Self.width) - 10)\" y=\"\(Int(height) - 8)\" font-size=\"12\" text-anchor=\"end\"></text>"
            )
            svg.raw("<text class=\"details\" x=\"10\" y=\"\(Int(height) - 8)\"> </text>")
        } else {
            svg.raw(
                "<text id=\"search\" x=\"\(Int(Self.width) - 10)\" y=\"22\" font-size=\"12\" text-anchor=\"end\" style=\"cursor:pointer\" onclick=\"search()\">Search</text>"
            )
            svg.raw(
                "<text id=\"matched\" x=\"\(Int(Self.width) - 10)\" y=\"\(Int(height) - 8)\" font-size=\"12\" text-anchor=\"end\"></text>"
            )
            svg.raw("<text id=\"details\" x=\"10\" y=\"\(Int(height) - 8)\"> </text>")
        }
        var pruned = 0
        let total = max(root.weight, 1)
        func draw(_ n: Node, _ x: Double, _ d: Int, _ base: Node?) {
            let w = n.weight / total * (Self.width - 20)
            guard w >= minWidth else {
                pruned += Self.count(n)
                return
            }
            let y = height - 30 - Double(d + 1) * Self.frameHeight
            let pct = n.weight / total * 100
            var label = "\(n.name) (\(tickLabel(n.weight)) \(countName), \(String(format: "%.2f", pct))%)"
            var fill = Self.color(n.name, hues[n.name] ?? .warm)
            if baseRoot != nil {
                let before = base?.weight ?? 0
                label +=
                    ", A \(tickLabel(before)), B \(tickLabel(n.weight))"
                    + (before > 0 ? String(format: ", %+.1f%%", (n.weight - before) / before * 100) : ", new")
                fill = Self.differentialColor(n.weight - before, scale: scale)
            }
            let chars = Int(w / 7)
            let shown = chars < 3 ? "" : (n.name.count <= chars ? n.name : String(n.name.prefix(chars - 2)) + "..")
            let handlers = embedded ? "" : " onclick=\"zoom(this)\" onmouseover=\"details(this)\""
            svg.raw(
                "<g class=\"f\" data-x=\"\(x)\" data-w=\"\(n.weight / total)\" data-d=\"\(d)\"\(handlers)>"
                    + "<title>\(SVG.escape(label))</title>"
                    + "<rect x=\"\(svg.f(10 + x * (Self.width - 20)))\" y=\"\(svg.f(y))\" width=\"\(svg.f(w))\" height=\"\(Self.frameHeight - 1)\" rx=\"2\" fill=\"\(fill)\"/>"
                    + "<text x=\"\(svg.f(13 + x * (Self.width - 20)))\" y=\"\(svg.f(y + 11.5))\">\(SVG.escape(shown))</text></g>"
            )
            var cx = x
            for child in n.children.values.sorted(by: { $0.name < $1.name }) {
                draw(child, cx, d + 1, base?.children[child.name])
                cx += child.weight / total
            }
        }
        draw(root, 0, 0, baseRoot)
        if !embedded { svg.raw("<script><![CDATA[\(Self.script)]]></script>") }
        return (svg, pruned)
    }

    /// Frames in a subtree, itself included.
    static func count(_ n: Node) -> Int { n.children.values.reduce(1) { $0 + count($1) } }

    /// A colour of the family, stable per name (FNV-1a), as flamegraph.pl's --hash.
    static func color(_ name: String, _ hue: Hue = .warm) -> String {
        let h = Palette.fnv1a(name)
        let x = Int(h % 50)
        let y = Int((h >> 8) % 50)
        let z = Int((h >> 16) % 40)
        let (r, g, b): (Int, Int, Int)
        switch hue {
        case .warm: (r, g, b) = (205 + x, 80 + Int((h >> 8) % 120), 40 + z)
        case .red: (r, g, b) = (200 + x, 50 + y, 50 + z)
        case .orange: (r, g, b) = (235 + x / 3, 120 + y, z / 2)
        case .yellow: (r, g, b) = (190 + x, 190 + y, 40 + z)
        case .grey: (r, g, b) = (180 + x / 2, 180 + x / 2, 180 + x / 2)
        }
        return "rgb(\(r),\(g),\(b))"
    }

    static let script = """
        var W = \(width - 20);
        function frames() { return document.querySelectorAll('g.f'); }
        function place(g, x0, w0) {
          var x = (parseFloat(g.dataset.x) - x0) / w0, w = parseFloat(g.dataset.w) / w0;
          var r = g.querySelector('rect'), t = g.querySelector('text');
          r.setAttribute('x', 10 + x * W); r.setAttribute('width', Math.max(0, w * W));
          t.setAttribute('x', 13 + x * W);
          var name = g.querySelector('title').textContent.replace(/ \\([^()]*\\)$/, ''), n = Math.floor(w * W / 7);
          t.textContent = n < 3 ? '' : (name.length <= n ? name : name.substring(0, n - 2) + '..');
        }
        function zoom(node) {
          var x0 = parseFloat(node.dataset.x), w0 = parseFloat(node.dataset.w), d0 = parseInt(node.dataset.d);
          frames().forEach(function (g) {
            var x = parseFloat(g.dataset.x), w = parseFloat(g.dataset.w), d = parseInt(g.dataset.d);
            var inside = x >= x0 - 1e-12 && x + w <= x0 + w0 + 1e-12;
            if (d < d0) { g.style.display = ''; place(g, 0, 1); g.querySelector('rect').setAttribute('x', 10); g.querySelector('rect').setAttribute('width', W); }
            else if (inside) { g.style.display = ''; place(g, x0, w0); }
            else { g.style.display = 'none'; }
          });
        }
        function details(g) { document.getElementById('details').textContent = g.querySelector('title').textContent; }
        function search() {
          var term = prompt('Search (regular expression)', ''); if (term === null) return;
          var re = new RegExp(term), spans = [], total = 1;
          frames().forEach(function (g) {
            var name = g.querySelector('title').textContent.replace(/ \\([^()]*\\)$/, ''), r = g.querySelector('rect');
            if (!r.dataset.fill) r.dataset.fill = r.getAttribute('fill');
            if (parseInt(g.dataset.d) === 0) total = parseFloat(g.dataset.w);
            if (term !== '' && re.test(name) && parseInt(g.dataset.d) > 0) {
              r.setAttribute('fill', 'rgb(230,0,230)');
              spans.push([parseFloat(g.dataset.x), parseFloat(g.dataset.x) + parseFloat(g.dataset.w)]);
            } else r.setAttribute('fill', r.dataset.fill);
          });
          // Nested matches lie inside their matched ancestors: merge the spans, then sum them.
          spans.sort(function (a, b) { return a[0] - b[0]; });
          var matched = 0, end = -1;
          spans.forEach(function (s) { if (s[0] >= end - 1e-12) { matched += s[1] - s[0]; end = s[1]; } else if (s[1] > end) { matched += s[1] - end; end = s[1]; } });
          document.getElementById('matched').textContent = term === '' ? '' : 'Matched: ' + (matched / total * 100).toFixed(1) + '%';
        }
        """
}
