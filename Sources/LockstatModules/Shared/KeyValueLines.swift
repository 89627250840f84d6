/// The `key value` lines of a side record: one pair a line, the key up to the first space, the
/// value the rest of the line. What presampling writes (the tracepoint layout, the profiler's
/// setup, task names, lockstat's CPU time) and parse reads back, in one place.
enum KeyValueLines {
    /// Each pair as a line, each line ending in a newline.
    static func text(_ pairs: [(key: String, value: String)]) -> String {
        pairs.map { "\($0.key) \($0.value)\n" }.joined()
    }

    /// The pairs in order; lines without a space are skipped.
    static func pairs(_ text: String) -> [(key: Substring, value: Substring)] {
        text.split(separator: "\n").compactMap { line in
            let kv = line.split(separator: " ", maxSplits: 1)
            return kv.count == 2 ? (kv[0], kv[1]) : nil
        }
    }

    /// The pairs by key; a later line wins.
    static func fields(_ text: String) -> [String: String] {
        var fields = [String: String]()
        for (key, value) in pairs(text) { fields[String(key)] = String(value) }
        return fields
    }
}
