import Foundation

/// The line-by-line state machine behind `LockStatSnapshot`.
struct LockStatParser {
    enum Block { case none, contentionPoints, contendingPoints }

    private var current: String?
    private var block = Block.none
    private var sawHeader = false
    /// Per column: a time (µs, may overflow) rather than a count.
    private var isTime: [Bool] = []

    mutating func read(_ raw: Substring, into s: inout LockStatSnapshot) {
        let line = raw.trimmingSpaces()
        if line.isEmpty { return }
        if line.hasPrefix("lock_stat version ") {
            s.version = String(line.dropFirst("lock_stat version ".count))
            return
        }
        if line.hasPrefix("*WARNING*") { return }
        if line.utf8.allSatisfy({ $0 == UInt8(ascii: ".") }) {
            current = nil
            block = .none
            return
        }
        if line.utf8.allSatisfy({ $0 == UInt8(ascii: "-") }) {
            // The header's rules are as wide as the table; a block rule is as wide as a name.
            if line.utf8.count >= 40 + 15 * 10 { return }
            guard current != nil else {
                s.badLines += 1
                return
            }
            switch block {
            case .none: block = .contentionPoints
            case .contentionPoints: block = .contendingPoints
            case .contendingPoints: s.badLines += 1
            }
            return
        }
        if line.hasPrefix("class name") {
            s.columns = line.dropFirst("class name".count).split(separator: " ").map(String.init)
            sawHeader = true
            return
        }
        if readClass(line, into: &s) { return }
        if readCallSite(line, into: &s) { return }
        s.badLines += 1
    }

    /// `name: n n n ...` with one number per column; the name may hold spaces and ends in -W/-R
    /// for the two sides of a read-write class.
    private mutating func readClass(_ line: Substring, into s: inout LockStatSnapshot) -> Bool {
        // Byte-level split: Character-level String work dominated the parse.
        let tokens = line.utf8.split(separator: UInt8(ascii: " ")).map { Substring($0) }
        if s.columns.isEmpty && !sawHeader {
            // No header seen: infer it from the count of numbers when only one layout fits.
            let numbers = tokens.reversed().prefix { LockStatValue.parse($0) != nil }.count
            if numbers == 12 {
                s.columns = LockStatSnapshot.columns04
            } else if numbers == 10 {
                s.columns = LockStatSnapshot.columns02
            } else {
                return false
            }
        }
        let n = s.columns.count
        guard n > 0, tokens.count > n, tokens[tokens.count - n - 1].utf8.last == UInt8(ascii: ":") else { return false }
        if isTime.count != n { isTime = s.columns.map { $0.hasPrefix("waittime") || $0.hasPrefix("holdtime") } }
        var values = [Double?]()
        values.reserveCapacity(n)
        for (k, t) in tokens.suffix(n).enumerated() {
            guard let v = LockStatValue.parse(t) else { return false }
            values.append(isTime[k] ? v.time : v.count)
        }
        // The name is the line up to the colon before the numbers, spaces and all.
        let nameEnd = tokens[tokens.count - n - 1].endIndex
        var name = String(line[line.startIndex..<line.index(before: nameEnd)])
        var side = "write"
        if name.hasSuffix("-W") {
            name.removeLast(2)
        } else if name.hasSuffix("-R") {
            name.removeLast(2)
            side = "read"
        }
        if s.classes[name] == nil { s.order.append(name) }
        // lockdep keeps distinct classes that print the same name (one i_lock_key#1 per filesystem
        // type); nothing in the file tells them apart from one snapshot to the next, so they are
        // combined, never one credited with the other's numbers.
        if side == "write" {
            let before = s.classes[name]?.write
            s.classes[name, default: LockClass()].write =
                before.map { LockStatCombine.combine($0, values, columns: s.columns) } ?? values
            if before != nil { s.combinedLines += 1 }
        } else {
            let before = s.classes[name]?.read
            s.classes[name, default: LockClass()].read =
                before.map { LockStatCombine.combine($0, values, columns: s.columns) } ?? values
            if before != nil { s.combinedLines += 1 }
        }
        current = name
        block = .none
        return true
    }

    /// `name count [<address>] symbol+0xoff/0xlen [module]` under the current class.
    private mutating func readCallSite(_ line: Substring, into s: inout LockStatSnapshot) -> Bool {
        guard let open = line.firstRange(of: " [<"), let close = line[open.upperBound...].firstRange(of: ">]") else {
            return false
        }
        let before = line[..<open.lowerBound].trimmingSpaces()
        guard let space = before.lastIndex(of: " "), let count = Double(before[before.index(after: space)...]) else {
            return false
        }
        let name = String(before[..<space].trimmingSpaces())
        // Only under the class it names: a class is never credited with another class's call sites.
        guard let cls = current, name == cls, block != .none else { return false }
        let site = CallSite(
            count: count, address: String(line[open.lowerBound..<close.upperBound].dropFirst()),
            symbol: String(line[close.upperBound...].trimmingSpaces()))
        if block == .contentionPoints {
            s.classes[cls, default: LockClass()].contentionPoints.append(site)
        } else {
            s.classes[cls, default: LockClass()].contendingPoints.append(site)
        }
        return true
    }
}

/// Two classes of the same name as one: counts and totals summed, the smallest minimum among
/// those that had events, the largest maximum, averages recomputed (total / count).
enum LockStatCombine {
    static func combine(_ a: [Double?], _ b: [Double?], columns: [String]) -> [Double?] {
        func value(_ v: [Double?], _ column: String) -> Double? { columns.firstIndex(of: column).flatMap { v[$0] } }
        // Minimum and average are about the events counted by contentions (wait) or acquisitions (hold).
        func events(_ c: String) -> String { c.hasPrefix("wait") ? "contentions" : "acquisitions" }
        var out = columns.indices.map { k -> Double? in
            let c = columns[k]
            if c.hasSuffix("-min") {
                let had = [a, b].filter { (value($0, events(c)) ?? 0) > 0 }
                if had.isEmpty { return a[k] }
                let mins = had.compactMap { $0[k] }
                return mins.count == had.count ? mins.min() : nil
            }
            guard let x = a[k], let y = b[k] else { return nil }
            return c.hasSuffix("-max") ? max(x, y) : x + y
        }
        for (k, c) in columns.enumerated() where c.hasSuffix("-avg") {
            let total = out[columns.firstIndex(of: c.replacingOccurrences(of: "-avg", with: "-total")) ?? k]
            let n = value(out, events(c)) ?? 0
            out[k] = total.map { n > 0 ? $0 / n : 0 }
        }
        return out
    }
}

/// A number as lock_stat prints it.
enum LockStatValue {
    case number(Double)
    /// `18446744073709`-like: an overflowed or negative time printed through a 15-byte buffer.
    case overflow

    /// Times are printed as µs with two decimals (`%lld.%02d`); 2.6.2x kernels could print
    /// `.100` for a rounded-up remainder, which means +1.00. A 14-digit integer in a time
    /// column is the overflow marker.
    static func parse(_ token: Substring) -> LockStatValue? {
        if let dot = token.utf8.firstIndex(of: UInt8(ascii: ".")) {
            guard let whole = Int64(token[..<dot]), let frac = Int64(token[token.index(after: dot)...]) else {
                return nil
            }
            return .number(Double(whole) + Double(frac) / 100)
        }
        guard let v = UInt64(token) else { return nil }
        return token.count >= 14 ? .overflow : .number(Double(v))
    }

    var time: Double? {
        if case .number(let v) = self { return v }
        return nil
    }

    /// Counts never overflow that way; a 14-digit count is a count.
    var count: Double? {
        switch self {
        case .number(let v): return v
        case .overflow: return nil
        }
    }
}

extension Substring {
    func trimmingSpaces() -> Substring {
        func space(_ b: UInt8) -> Bool { b == 0x20 || b == 0x09 || b == 0x0D }
        var u = utf8[...]
        while let f = u.first, space(f) { u = u.dropFirst() }
        while let l = u.last, space(l) { u = u.dropLast() }
        return Substring(u)
    }
}
