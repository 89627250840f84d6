import LockstatCore

/// Byte-level reading of /proc text: lines, space-separated tokens and decimal counters,
/// without making a String per token (the parsers run over long series of snapshots).
struct ProcLine {
    /// Token boundaries within the snapshot's bytes.
    var tokens: [Range<Int>] = []
    /// False for a last line with no newline: the snapshot was cut there.
    var complete = true
}

struct ProcText {
    let bytes: UnsafeRawBufferPointer

    /// Calls `body` for each non-empty line with its tokens; reuses one token array.
    func forEachLine(_ body: (inout ProcLine) -> Void) {
        var line = ProcLine()
        line.tokens.reserveCapacity(32)
        var i = 0
        let n = bytes.count
        while i < n {
            line.tokens.removeAll(keepingCapacity: true)
            var start = -1
            while i < n && bytes[i] != 0x0A {
                let isSpace = bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0D
                if isSpace {
                    if start >= 0 {
                        line.tokens.append(start..<i)
                        start = -1
                    }
                } else if start < 0 {
                    start = i
                }
                i += 1
            }
            if start >= 0 { line.tokens.append(start..<i) }
            line.complete = i < n
            i += 1
            if !line.tokens.isEmpty { body(&line) }
        }
    }

    /// The token as an unsigned decimal; nil when it is not one (or overflows 64 bits).
    func unsigned(_ r: Range<Int>) -> UInt64? {
        guard !r.isEmpty else { return nil }
        var v: UInt64 = 0
        for i in r {
            let d = bytes[i] &- 0x30
            guard d < 10 else { return nil }
            let (m, o1) = v.multipliedReportingOverflow(by: 10)
            let (s, o2) = m.addingReportingOverflow(UInt64(d))
            guard !o1, !o2 else { return nil }
            v = s
        }
        return v
    }

    func string(_ r: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[r]), as: UTF8.self)
    }

    func equals(_ r: Range<Int>, _ literal: StaticString) -> Bool {
        guard r.count == literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        for (k, i) in r.enumerated() where bytes[i] != p[k] { return false }
        return true
    }

    func hasPrefix(_ r: Range<Int>, _ literal: StaticString) -> Bool {
        guard r.count >= literal.utf8CodeUnitCount else { return false }
        let p = literal.utf8Start
        for k in 0..<literal.utf8CodeUnitCount where bytes[r.lowerBound + k] != p[k] { return false }
        return true
    }
}

/// Per-interval arithmetic shared by the modules: Δ of a counter that may go backwards
/// (device re-added, CPU hot-plugged). sysstat clamps such a rate to 0 (rd_stats.c, S_VALUE use).
@inline(__always)
func delta(_ current: UInt64, _ previous: UInt64) -> Double {
    current >= previous ? Double(current - previous) : 0
}
