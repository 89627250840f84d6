/// A small SVG writer: elements appended as text, every piece of text XML-escaped.
public struct SVG {
    public let width: Int
    public let height: Int
    private var body: [String] = []

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// Text made safe for XML, in element text and attribute values alike: `<>&"'` escaped, and the
    /// characters XML 1.0 forbids (C0 controls other than tab, newline and carriage return;
    /// U+FFFE, U+FFFF) replaced by U+FFFD. Names reach here from unprivileged processes (their
    /// own symbols, task names); invalid UTF-8 was already repaired when the bytes became a String.
    public static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(c)
            case _ where c.value < 0x20 || c.value == 0xFFFE || c.value == 0xFFFF: out += "\u{FFFD}"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil)
    {
        body.append(
            "<rect x=\"\(f(x))\" y=\"\(f(y))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"\(fill)\""
                + (stroke.map { " stroke=\"\($0)\"" } ?? "") + "/>")
    }

    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1) {
        body.append(
            "<line x1=\"\(f(x1))\" y1=\"\(f(y1))\" x2=\"\(f(x2))\" y2=\"\(f(y2))\" stroke=\"\(stroke)\" stroke-width=\"\(f(width))\"/>"
        )
    }

    public mutating func polyline(_ points: [(Double, Double)], stroke: String, width: Double = 1.5) {
        guard !points.isEmpty else { return }
        body.append(
            "<polyline fill=\"none\" stroke=\"\(stroke)\" stroke-width=\"\(f(width))\" stroke-linejoin=\"round\" points=\""
                + points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ") + "\"/>")
    }

    public mutating func polygon(_ points: [(Double, Double)], fill: String, title: String? = nil) {
        guard !points.isEmpty else { return }
        let pts = points.map { "\(f($0.0)),\(f($0.1))" }.joined(separator: " ")
        if let title {
            body.append("<polygon fill=\"\(fill)\" points=\"\(pts)\"><title>\(SVG.escape(title))</title></polygon>")
        } else {
            body.append("<polygon fill=\"\(fill)\" points=\"\(pts)\"/>")
        }
    }

    public enum Anchor: String { case start, middle, end }

    public mutating func text(
        _ text: String, x: Double, y: Double, size: Double = 12, anchor: Anchor = .start,
        rotate: Double? = nil, weight: String? = nil, fill: String = "#222"
    ) {
        let transform = rotate.map { " transform=\"rotate(\(f($0)) \(f(x)) \(f(y)))\"" } ?? ""
        let bold = weight.map { " font-weight=\"\($0)\"" } ?? ""
        body.append(
            "<text x=\"\(f(x))\" y=\"\(f(y))\" font-size=\"\(f(size))\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(fill)\"\(bold)\(transform)>\(SVG.escape(text))</text>"
        )
    }

    public mutating func raw(_ element: String) { body.append(element) }

    public var document: String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            + "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\" "
            + "font-family=\"DejaVu Sans, Verdana, sans-serif\">\n" + body.joined(separator: "\n") + "\n</svg>\n"
    }

    /// The chart as an element of an HTML page, scaled to the page's width.
    public func inline(class name: String) -> String {
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"\(name)\" viewBox=\"0 0 \(width) \(height)\" "
            + "font-family=\"DejaVu Sans, Verdana, sans-serif\">\n" + body.joined(separator: "\n") + "\n</svg>"
    }

    /// The chart as an element of a larger document, its top left corner at (x, y).
    public func nested(x: Int, y: Int) -> String {
        "<svg x=\"\(x)\" y=\"\(y)\" width=\"\(width)\" height=\"\(height)\" viewBox=\"0 0 \(width) \(height)\">\n"
            + body.joined(separator: "\n") + "\n</svg>"
    }

    /// Coordinates with at most one decimal keep files small.
    public func f(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() && abs(r) < 1e15 ? String(Int(r)) : String(r)
    }
}
