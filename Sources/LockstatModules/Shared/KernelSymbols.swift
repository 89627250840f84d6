import Foundation
import LockstatCore

/// /proc/kallsyms (or a vmlinux's symbol table) as a lookup table: address → `func+0xoff`, as
/// perf prints kernel frames; the image (`[kernel.kallsyms]`, or a module as `[ext4]`); and the
/// kernel's lock code, whose frames are never a lock's caller.
struct KernelSymbols {
    struct Symbol {
        var address: UInt64
        var name: String
        var isText: Bool
        /// The loadable module, nil for the kernel image.
        var module: String?
    }
    private var symbols: [Symbol] = []
    /// Sections holding the lock functions: spinlocks (lock text) and the sleeping locks' slow
    /// paths (mutex, rwsem, semaphore, rtmutex, percpu-rwsem live in sched text) — the ranges
    /// perf's machine__is_lock_function uses.
    private var lockRanges: [Range<UInt64>] = []
    /// The kernel image's name in reports: perf's, or the vmlinux file's.
    var kernelImage = "[kernel.kallsyms]"

    /// kallsyms lines: `address type name [\t[module]]`; read on bytes (a kallsyms has ~200,000
    /// lines: String splitting took a quarter of a second).
    init(_ text: String) {
        var rows = [Symbol]()
        var text = text
        text.withUTF8 { b in
            var i = 0
            let n = b.count
            while i < n {
                var address: UInt64 = 0
                var digits = 0
                while i < n, let d = Self.hexValue(b[i]) {
                    address = address &* 16 &+ UInt64(d)
                    digits += 1
                    i += 1
                }
                // " t name" at least
                guard digits > 0, i + 3 < n, b[i] == 0x20, b[i + 2] == 0x20 else {
                    while i < n && b[i] != 0x0A { i += 1 }
                    i += 1
                    continue
                }
                let type = b[i + 1] | 0x20  // lower case
                i += 3
                let nameStart = i
                while i < n && b[i] != 0x09 && b[i] != 0x0A { i += 1 }
                let name = String(decoding: UnsafeBufferPointer(rebasing: b[nameStart..<i]), as: UTF8.self)
                var module: String?
                if i < n && b[i] == 0x09 {
                    i += 1
                    let start = i
                    while i < n && b[i] != 0x0A { i += 1 }
                    var lo = start
                    var hi = i
                    while lo < hi && (b[lo] == 0x5B || b[lo] == 0x20) { lo += 1 }  // [
                    while hi > lo && (b[hi - 1] == 0x5D || b[hi - 1] == 0x20) { hi -= 1 }  // ]
                    module = String(decoding: UnsafeBufferPointer(rebasing: b[lo..<hi]), as: UTF8.self)
                }
                i += 1
                if address != 0 {
                    rows.append(
                        Symbol(address: address, name: name, isText: type == 0x74 || type == 0x77, module: module))
                }
            }
        }
        self.init(symbols: rows)
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x61...0x66: return c - 0x61 + 10
        case 0x41...0x46: return c - 0x41 + 10
        default: return nil
        }
    }

    init(symbols: [Symbol]) {
        // At one address, section markers first: a lookup takes the last symbol at or below an
        // address, so `native_safe_halt` wins over `__cpuidle_text_start` beside it (as in vmlinux).
        self.symbols = symbols.sorted {
            ($0.address, Self.isMarker($0.name) ? 0 : 1) < ($1.address, Self.isMarker($1.name) ? 0 : 1)
        }
        var marks = [String: UInt64]()
        for s in self.symbols where s.name.hasPrefix("__lock_text_") || s.name.hasPrefix("__sched_text_") {
            marks[s.name] = s.address
        }
        for section in ["__lock_text", "__sched_text"] {
            if let start = marks[section + "_start"], let end = marks[section + "_end"], start < end {
                lockRanges.append(start..<end)
            }
        }
    }

    /// Section boundaries the linker script defines, not functions: `__cpuidle_text_start`, `_stext`.
    static func isMarker(_ name: String) -> Bool {
        ["_text", "_stext", "_etext", "_sinittext", "_einittext"].contains(name)
            || (name.hasPrefix("__") && (name.hasSuffix("_start") || name.hasSuffix("_end")))
    }

    var isEmpty: Bool { symbols.isEmpty }

    /// The loadable modules' symbols (to join a vmlinux's own).
    var moduleSymbols: [Symbol] { symbols.filter { $0.module != nil } }

    /// The address of a symbol by name (a linear search: for a few anchors such as `_stext`).
    func address(of name: String) -> UInt64? { symbols.first { $0.name == name }?.address }

    func isLockFunction(_ address: UInt64) -> Bool { lockRanges.contains { $0.contains(address) } }

    /// The function containing `address`, as `name+0xoff`; nil when no symbol covers it.
    func function(_ address: UInt64) -> String? {
        guard let s = text(at: address) else { return nil }
        return s.name + "+0x" + String(address - s.address, radix: 16)
    }

    /// Just the function name, for flame graph frames.
    func functionName(_ address: UInt64) -> String? { text(at: address)?.name }

    /// The image holding the function at `address`: the kernel, or `[module]`.
    func image(_ address: UInt64) -> String {
        guard let s = text(at: address), let module = s.module else { return kernelImage }
        return "[" + module + "]"
    }

    /// A static lock's symbol: the data symbol at that address, or `name+0xoff` inside one (up to
    /// the next symbol). Never a section marker (`__start_rodata`, `_edata`): on kernels without
    /// CONFIG_KALLSYMS_ALL they are the only data symbols, and would name all of .data and .bss.
    func object(_ address: UInt64) -> String? {
        guard let i = lastIndex(atOrBelow: address), !symbols[i].isText, !Self.isDataMarker(symbols[i].name) else {
            return nil
        }
        if symbols[i].address == address { return symbols[i].name }
        guard i + 1 < symbols.count, address < symbols[i + 1].address else { return nil }
        return symbols[i].name + "+0x" + String(address - symbols[i].address, radix: 16)
    }

    static func isDataMarker(_ name: String) -> Bool {
        isMarker(name) || name.hasPrefix("__start_") || name.hasPrefix("__stop_")
            || ["_sdata", "_edata", "_end", "__bss_start", "__bss_stop", "__brk_base", "__brk_limit", "__init_begin"].contains(name)
    }

    /// How many data symbols kallsyms lists beyond section markers: thousands with
    /// CONFIG_KALLSYMS_ALL (static locks get names), a few dozen markers without it.
    var dataSymbolCount: Int { symbols.reduce(0) { $0 + ($1.isText || Self.isDataMarker($1.name) ? 0 : 1) } }

    private func text(at address: UInt64) -> Symbol? {
        guard let i = lastIndex(atOrBelow: address), symbols[i].isText else { return nil }
        return symbols[i]
    }

    private func lastIndex(atOrBelow address: UInt64) -> Int? { symbols.lastIndex(atOrBelow: address, by: \.address) }
}

/// /proc/kallsyms kept in a raw log (zstd), so parse symbolizes later as the kernel was then.
enum KallsymsRecord {
    static func append(_ system: SystemRoot, to log: RawLogWriter, stream: UInt16) {
        guard case .success(let kallsyms) = FileReader.readAll(system.path("/proc/kallsyms")) else { return }
        let zstd = Zstd()
        let frame = UnsafeMutableRawBufferPointer.allocate(byteCount: Zstd.bound(kallsyms.count), alignment: 8)
        defer { frame.deallocate() }
        let n = kallsyms.withUnsafeBytes { zstd.compress($0, prefix: nil, into: frame) }
        if n > 0 {
            log.append(
                kind: .compressedSnapshot, stream: stream, tick: 0, time: 0,
                payload: UnsafeRawBufferPointer(rebasing: frame[0..<n]))
        }
    }

    static func read(_ log: RawLog, stream: UInt16) throws -> String {
        var kallsyms = ""
        try log.snapshots(stream: stream).read { _, bytes in kallsyms = String(decoding: bytes, as: UTF8.self) }
        return kallsyms
    }
}
