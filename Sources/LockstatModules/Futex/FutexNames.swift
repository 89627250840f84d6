import Foundation
import LockstatCore

/// What the run's mapped files say of its user stacks and lock words: each call path's frames
/// (unwound and named) and how they were found, each lock word's name, and the files that named
/// nothing. Named at the end of the run, while the files are certainly the run's, and kept in the
/// raw log (FutexRecorder.namesStream): `lockstat parse` of a copied directory, or after the
/// program was rebuilt, reads the names and opens no file. Names only, never stack bytes.
struct FutexNames: Equatable {
    struct Stack: Equatable {
        var frames: [Symbolizer.Frame]
        var source: FutexAnalysis.StackSource
    }

    struct LockWord: Hashable {
        var tgid: UInt32, address: UInt64
    }

    var stacks: [FutexAnalysis.Site: Stack] = [:]
    var locks: [LockWord: String] = [:]
    var unreadableFiles = Set<String>(), filesWithoutSymbols = Set<String>(), replacedFiles = Set<String>()
    var leftOutFiles: [String: UserUnwinder.LeftOut] = [:]
    /// Perf maps found and not read (JitPerfMaps), and why.
    var refusedPerfMaps: [String: String] = [:]

    init() {}

    /// One item a line, fields apart by tabs (names hold spaces, never a tab or a newline: those
    /// are written as spaces): `s TGID STACK_ID SCANNED SOURCE` (SCANNED: hex words apart by
    /// commas, `-` for none) followed by its frames root last, `f SYMBOL IMAGE KIND`;
    /// `l TGID ADDRESS NAME`; `u PATH` unreadable, `x PATH` no symbols, `r PATH` replaced during
    /// the run, `o REASON PATH` left out of the unwinding, `p PATH REASON` a perf map not read.
    var text: String {
        func clean(_ s: String) -> String {
            s.contains(where: { $0 == "\t" || $0 == "\n" })
                ? s.replacingOccurrences(of: "\t", with: " ").replacingOccurrences(of: "\n", with: " ") : s
        }
        var out = ""
        let order = stacks.sorted { a, b in
            (a.key.tgid, a.key.userStack) != (b.key.tgid, b.key.userStack)
                ? (a.key.tgid, a.key.userStack) < (b.key.tgid, b.key.userStack)
                : a.key.scanned.lexicographicallyPrecedes(b.key.scanned)
        }
        for (site, stack) in order {
            let scanned = site.scanned.isEmpty ? "-" : site.scanned.map { String($0, radix: 16) }.joined(separator: ",")
            out += "s\t\(site.tgid)\t\(site.userStack)\t\(scanned)\t\(stack.source.rawValue)\n"
            for f in stack.frames { out += "f\t\(clean(f.symbol))\t\(clean(f.image))\t\(f.kind.rawValue)\n" }
        }
        for (word, name) in locks.sorted(by: { ($0.key.tgid, $0.key.address) < ($1.key.tgid, $1.key.address) }) {
            out += "l\t\(word.tgid)\t\(String(word.address, radix: 16))\t\(clean(name))\n"
        }
        for path in unreadableFiles.sorted() { out += "u\t\(clean(path))\n" }
        for path in filesWithoutSymbols.sorted() { out += "x\t\(clean(path))\n" }
        for path in replacedFiles.sorted() { out += "r\t\(clean(path))\n" }
        for (path, why) in leftOutFiles.sorted(by: { $0.key < $1.key }) {
            out += "o\t\(why.rawValue)\t\(clean(path))\n"
        }
        for (path, why) in refusedPerfMaps.sorted(by: { $0.key < $1.key }) {
            out += "p\t\(clean(path))\t\(clean(why))\n"
        }
        return out
    }

    /// The names `text` holds; nil when a line is not one of them (a damaged record).
    init?(text: String) {
        var site: FutexAnalysis.Site?
        for line in text.split(separator: "\n") {
            let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            switch (f.first, f.count) {
            case ("s", 5):
                guard let tgid = UInt32(f[1]), let id = Int32(f[2]),
                    let source = FutexAnalysis.StackSource(rawValue: f[4])
                else { return nil }
                let words = f[3] == "-" ? [] : f[3].split(separator: ",").map { UInt64($0, radix: 16) }
                guard !words.contains(nil) else { return nil }
                let s = FutexAnalysis.Site(tgid: tgid, userStack: id, scanned: words.map { $0! })
                stacks[s] = Stack(frames: [], source: source)
                site = s
            case ("f", 4):
                guard let s = site, let kind = Symbolizer.ImageKind(rawValue: f[3]) else { return nil }
                stacks[s]?.frames.append(Symbolizer.Frame(symbol: f[1], image: f[2], kind: kind))
            case ("l", 4):
                guard let tgid = UInt32(f[1]), let address = UInt64(f[2], radix: 16) else { return nil }
                locks[LockWord(tgid: tgid, address: address)] = f[3]
            case ("u", 2): unreadableFiles.insert(f[1])
            case ("x", 2): filesWithoutSymbols.insert(f[1])
            case ("r", 2): replacedFiles.insert(f[1])
            case ("o", 3):
                guard let why = UserUnwinder.LeftOut(rawValue: f[1]) else { return nil }
                leftOutFiles[f[2]] = why
            case ("p", 3): refusedPerfMaps[f[1]] = f[2]
            default: return nil
            }
        }
    }

    /// The names a raw log kept; nil for a log of a run that named nothing at its end (an older
    /// lockstat's, or one killed before it): parse then names from the files as they are now.
    init?(log: RawLog, damaged: inout Int) {
        var texts = [String]()
        do {
            try log.snapshots(stream: FutexRecorder.namesStream).read { _, b in
                texts.append(String(decoding: b, as: UTF8.self))
            }
        } catch { damaged += 1 }
        guard let last = texts.last else { return nil }
        guard let names = FutexNames(text: last) else {
            damaged += 1
            return nil
        }
        self = names
    }
}
