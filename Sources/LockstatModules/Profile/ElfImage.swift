import Foundation

/// The function symbols of one ELF file (.symtab and .dynsym) and its loadable segments, read
/// once, to name the code at a file offset (ELF-64 little-endian: x86-64 and arm64; elf(5)).
public struct ElfImage {
    /// A PT_LOAD segment: file bytes [offset, offset + size) are mapped at vaddr.
    struct Segment { var offset: UInt64; var vaddr: UInt64; var size: UInt64 }
    public struct Symbol {
        public var address: UInt64
        public var size: UInt64
        public var name: String
        /// STB_LOCAL 0, STB_GLOBAL 1, STB_WEAK 2.
        var binding: UInt8 = 1

        /// Of two names for one address, the one perf shows (choose_best_symbol in perf's
        /// util/symbol.c): a sized one, a non-weak one, a global one, fewer leading underscores,
        /// the longer name. `read` over `__read` and `__libc_read`.
        func isBetter(than other: Symbol) -> Bool {
            if (size > 0) != (other.size > 0) { return size > 0 }
            if (binding == 2) != (other.binding == 2) { return binding != 2 }
            if (binding == 1) != (other.binding == 1) { return binding == 1 }
            let a = name.prefix { $0 == "_" }.count, b = other.name.prefix { $0 == "_" }.count
            if a != b { return a < b }
            return name.count > other.name.count
        }
    }

    let segments: [Segment]
    /// Sorted by address, one per address (perf's choice among aliases).
    public private(set) var symbols: [Symbol]
    /// The GNU build ID note, in hex: names the file's separate debug file.
    let buildID: String?

    /// nil when the file cannot be read or is not a 64-bit little-endian ELF file.
    public init?(path: String) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 64, let base = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0),
              base != MAP_FAILED else { return nil }
        defer { munmap(base, Int(st.st_size)) }
        self.init(bytes: UnsafeRawBufferPointer(start: base, count: Int(st.st_size)))
    }

    init?(bytes b: UnsafeRawBufferPointer) {
        guard b.count > 64, b[0] == 0x7F, b[1] == 0x45, b[2] == 0x4C, b[3] == 0x46, b[4] == 2, b[5] == 1 else { return nil }
        func u16(_ at: Int) -> Int { Int(b.loadUnaligned(fromByteOffset: at, as: UInt16.self)) }
        func u32(_ at: Int) -> Int { Int(b.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        func u64(_ at: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: at, as: UInt64.self) }
        func fits(_ at: UInt64, _ size: UInt64) -> Bool { at <= UInt64(b.count) && size <= UInt64(b.count) - at }

        var segments = [Segment]()
        let phoff = u64(32), phentsize = u16(54), phnum = u16(56)
        for i in 0..<phnum {
            let at = phoff + UInt64(i * phentsize)
            guard fits(at, 56) else { break }
            let p = Int(at)
            if u32(p) == 1 { segments.append(Segment(offset: u64(p + 8), vaddr: u64(p + 16), size: u64(p + 32))) }   // PT_LOAD
        }
        self.segments = segments

        var byAddress = [UInt64: Symbol]()
        var buildID: String?
        let shoff = u64(40), shentsize = u16(58), shnum = u16(60)
        func section(_ i: Int) -> Int? {
            let at = shoff + UInt64(i * shentsize)
            return fits(at, 64) ? Int(at) : nil
        }
        func keep(_ s: Symbol) {
            if let old = byAddress[s.address], !s.isBetter(than: old) { return }
            byAddress[s.address] = s
        }
        for wanted in [11, 2] {                                  // SHT_DYNSYM, SHT_SYMTAB
            for i in 0..<shnum {
                guard let s = section(i), u32(s + 4) == wanted, let strings = section(u32(s + 40)) else { continue }
                let symOffset = u64(s + 24), symSize = u64(s + 32), strOffset = u64(strings + 24), strSize = u64(strings + 32)
                guard fits(symOffset, symSize), fits(strOffset, strSize) else { continue }
                var at = Int(symOffset)
                while at + 24 <= Int(symOffset + symSize) {
                    let type = b[at + 4] & 0xF, shndx = u16(at + 6), value = u64(at + 8)
                    // STT_FUNC and STT_GNU_IFUNC, defined in this file.
                    if (type == 2 || type == 10), shndx != 0, value != 0 {
                        let nameAt = Int(strOffset) + u32(at)
                        if nameAt < Int(strOffset + strSize) {
                            var end = nameAt
                            while end < Int(strOffset + strSize) && b[end] != 0 { end += 1 }
                            let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[nameAt..<end]), as: UTF8.self)
                            if !name.isEmpty { keep(Symbol(address: value, size: u64(at + 16), name: name, binding: b[at + 4] >> 4)) }
                        }
                    }
                    at += 24
                }
            }
        }
        symbols = byAddress.values.sorted { $0.address < $1.address }
        for i in 0..<shnum where buildID == nil {
            guard let s = section(i), u32(s + 4) == 7, fits(u64(s + 24), u64(s + 32)) else { continue }   // SHT_NOTE
            let start = Int(u64(s + 24))
            buildID = Self.buildID(inNotes: UnsafeRawBufferPointer(rebasing: b[start..<(start + Int(u64(s + 32)))]))
        }
        self.buildID = buildID
    }

    /// The separate debug file's symbols too (its addresses are the file's own): distributions
    /// strip .symtab and ship it in /usr/lib/debug/.build-id/xx/yyyy.debug (libc6-dbg and the like).
    public mutating func addDebugSymbols(root: String = "/usr/lib/debug") {
        guard let id = buildID, id.count > 2,
              let debug = ElfImage(path: "\(root)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug") else { return }
        var byAddress = Dictionary(symbols.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for s in debug.symbols where byAddress[s.address].map({ s.isBetter(than: $0) }) ?? true { byAddress[s.address] = s }
        symbols = byAddress.values.sorted { $0.address < $1.address }
    }

    /// The NT_GNU_BUILD_ID note among ELF notes (a note section, or the running kernel's
    /// /sys/kernel/notes), in hex. Each note: namesz, descsz, type (u32 each), then the name and
    /// the desc, each padded to 4 bytes; the build ID is type 3 named "GNU".
    public static func buildID(inNotes b: UnsafeRawBufferPointer) -> String? {
        var at = 0
        while at + 12 <= b.count {
            let namesz = Int(b.loadUnaligned(fromByteOffset: at, as: UInt32.self)), descsz = Int(b.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
            let type = b.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
            let desc = at + 12 + (namesz + 3) / 4 * 4
            guard namesz < b.count, descsz < b.count, desc + descsz <= b.count else { return nil }
            if type == 3, namesz == 4, b[at + 12] == 0x47, b[at + 13] == 0x4E, b[at + 14] == 0x55 {
                return (desc..<(desc + descsz)).map { String(format: "%02x", b[$0]) }.joined()
            }
            at = desc + (descsz + 3) / 4 * 4
        }
        return nil
    }

    /// The virtual address (as linked) of a file offset, through the PT_LOAD segment holding it.
    func address(ofFileOffset offset: UInt64) -> UInt64? {
        guard let s = segments.first(where: { offset >= $0.offset && offset - $0.offset < $0.size }) else { return nil }
        return offset - s.offset + s.vaddr
    }

    /// The function covering `address`: within its size, or, for a symbol of size 0, up to the next.
    public func symbol(at address: UInt64) -> Symbol? {
        var lo = 0, hi = symbols.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if symbols[mid].address <= address { lo = mid + 1 } else { hi = mid }
        }
        guard lo > 0 else { return nil }
        let s = symbols[lo - 1]
        return s.size == 0 || address - s.address < s.size ? s : nil
    }
}
