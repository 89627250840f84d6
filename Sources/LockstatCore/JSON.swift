/// samples.json: the same content as samples.pickle; None and non-finite floats are null,
/// tuples and sets are arrays, non-string keys are written as their text.
public enum JSON {
    /// `scriptSafe`: JSON that stays data inside an HTML <script> element, `<`, `>`, `&` and the
    /// line separators written as \u escapes (inside strings, the only place they can be).
    public static func encode(_ value: PyValue, scriptSafe: Bool = false) -> String {
        var out = ""
        out.reserveCapacity(1 << 16)
        write(value, to: &out, scriptSafe: scriptSafe)
        out.append("\n")
        return out
    }

    /// The same text as UTF-8 handed to `emit` a megabyte or so at a time.
    public static func write(_ value: PyValue, to emit: ([UInt8]) -> Void) {
        withoutActuallyEscaping(emit) { emit in
            var out = ""
            out.reserveCapacity(piece + (1 << 16))
            write(value, to: &out, handingOn: emit)
            out.append("\n")
            emit(Array(out.utf8))
        }
    }

    static let piece = 1 << 20

    static func write(
        _ value: PyValue, to out: inout String, handingOn emit: (([UInt8]) -> Void)? = nil,
        scriptSafe: Bool = false
    ) {
        func handOn() {
            guard let emit, out.utf8.count >= piece else { return }
            emit(Array(out.utf8))
            out.removeAll(keepingCapacity: true)
        }
        switch value {
        case .none, .opaque: out += "null"
        case .foreign(_, let json):
            let text =
                json ?? "{\"_lockstat_note\": \"left out: the value is not JSON-serializable; samples.pickle has it\"}"
            guard scriptSafe else {
                out += text
                break
            }
            // Python's JSON text: the characters a script breaks on can only be inside its strings.
            for u in text.unicodeScalars {
                if breaksScript(u) { writeUnicodeEscape(u, to: &out) } else { out.unicodeScalars.append(u) }
            }
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .float(let d): writeNumber(d, to: &out)
        case .string(let s): writeString(s, to: &out, scriptSafe: scriptSafe)
        case .list(let items), .tuple(let items), .set(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += ", " }
                write(item, to: &out, handingOn: emit, scriptSafe: scriptSafe)
                handOn()
            }
            out += "]"
        case .floats(let values):
            out += "["
            for (i, value) in values.enumerated() {
                if i > 0 { out += ", " }
                writeNumber(value, to: &out)
                if i % 1000 == 999 { handOn() }
            }
            out += "]"
        case .dict(let pairs):
            out += "{"
            for (i, (k, v)) in pairs.enumerated() {
                if i > 0 { out += ", " }
                writeString(keyText(k), to: &out, scriptSafe: scriptSafe)
                out += ": "
                write(v, to: &out, handingOn: emit, scriptSafe: scriptSafe)
                handOn()
            }
            out += "}"
        }
    }

    static func keyText(_ key: PyValue) -> String {
        switch key {
        case .string(let s): return s
        case .none: return "null"
        default:
            var s = ""
            write(key, to: &s)
            return s
        }
    }

    static func writeNumber(_ d: Double, to out: inout String) {
        guard d.isFinite else {
            out += "null"
            return
        }
        out += d == d.rounded() && abs(d) < 1e15 ? String(Int64(d)) + ".0" : "\(d)"
    }

    static func writeString(_ s: String, to out: inout String, scriptSafe: Bool = false) {
        out += "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where u.value < 0x20 || scriptSafe && breaksScript(u): writeUnicodeEscape(u, to: &out)
            default: out.unicodeScalars.append(u)
            }
        }
        out += "\""
    }

    /// Characters that could end a <script> element or its line in a browser.
    static func breaksScript(_ u: Unicode.Scalar) -> Bool {
        u == "<" || u == ">" || u == "&" || u == "\u{2028}" || u == "\u{2029}"
    }

    /// `\u` and the scalar's four lower-case hex digits (every scalar escaped here is in the BMP).
    static func writeUnicodeEscape(_ u: Unicode.Scalar, to out: inout String) {
        let hex = String(u.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    }
}
