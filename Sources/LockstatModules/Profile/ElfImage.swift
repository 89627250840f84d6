import Foundation

/// The function symbols of one ELF file (.symtab and .dynsym) and its loadable segments, read
/// once, to name the code at a file offset (ELF-64 little-endian: x86-64 and arm64; elf(5)).
/// With `dataSymbols`, its data objects (STT_OBJECT) instead, to name a variable's address.
public struct ElfImage {
    /// A PT_LOAD segment: file bytes [offset, offset + size) are mapped at vaddr, and zeros
    /// (.bss) up to vaddr + memorySize.
    struct Segment {
        var offset: UInt64
        var vaddr: UInt64
        var size: UInt64
        var memorySize: UInt64 = 0
    }
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
            let a = name.prefix { $0 == "_" }.count
            let b = other.name.prefix { $0 == "_" }.count
            if a != b { return a < b }
            return name.count > other.name.count
        }
    }

    let segments: [Segment]
    /// Sorted by address, one per address (perf's choice among aliases).
    public private(set) var symbols: [Symbol]
    /// The GNU build ID note, in hex: names the file's separate debug file.
    let buildID: String?
    /// The symbols kept are data objects, not functions.
    let dataSymbols: Bool

    /// nil when the file cannot be read or is not a 64-bit little-endian ELF file.
    public init?(path: String, dataSymbols: Bool = false) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0, st.st_size > 64,
            let base = mmap(nil, Int(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0),
            base != MAP_FAILED
        else { return nil }
        defer { munmap(base, Int(st.st_size)) }
        self.init(bytes: UnsafeRawBufferPointer(start: base, count: Int(st.st_size)), dataSymbols: dataSymbols)
    }

    /// The file's headers are read as <elf.h>'s structs (Elf64_Ehdr, Elf64_Phdr, Elf64_Shdr,
    /// Elf64_Sym); every offset and size in them is checked against the file before use.
    init?(bytes b: UnsafeRawBufferPointer, dataSymbols: Bool = false) {
        guard b.count > MemoryLayout<Elf64_Ehdr>.size, b[0] == 0x7F, b[1] == 0x45, b[2] == 0x4C, b[3] == 0x46,
            b[Int(EI_CLASS)] == ELFCLASS64, b[Int(EI_DATA)] == ELFDATA2LSB
        else { return nil }
        func fits(_ at: UInt64, _ size: UInt64) -> Bool { at <= UInt64(b.count) && size <= UInt64(b.count) - at }
        func load<T>(_ at: UInt64, as type: T.Type) -> T? {
            fits(at, UInt64(MemoryLayout<T>.size)) ? b.loadUnaligned(fromByteOffset: Int(at), as: T.self) : nil
        }
        /// The i-th entry of a header table; nil where the offset would pass 2^64 (a file being
        /// written, or a hostile one) or the file's end.
        func entry(_ table: UInt64, _ i: UInt64, _ size: UInt16) -> UInt64? {
            let (offset, o1) = i.multipliedReportingOverflow(by: UInt64(size))
            let (at, o2) = table.addingReportingOverflow(offset)
            return o1 || o2 ? nil : at
        }
        let header = b.loadUnaligned(as: Elf64_Ehdr.self)
        self.dataSymbols = dataSymbols

        var segments = [Segment]()
        for i in 0..<UInt64(header.e_phnum) {
            guard let at = entry(header.e_phoff, i, header.e_phentsize), let p = load(at, as: Elf64_Phdr.self) else {
                break
            }
            if p.p_type == PT_LOAD {
                segments.append(Segment(offset: p.p_offset, vaddr: p.p_vaddr, size: p.p_filesz, memorySize: p.p_memsz))
            }
        }
        self.segments = segments

        let sections = (0..<UInt64(header.e_shnum)).compactMap { i in
            entry(header.e_shoff, i, header.e_shentsize).flatMap { load($0, as: Elf64_Shdr.self) }
        }
        var byAddress = [UInt64: Symbol]()
        func keep(_ s: Symbol) {
            if let old = byAddress[s.address], !s.isBetter(than: old) { return }
            byAddress[s.address] = s
        }
        for wanted in [UInt32(SHT_DYNSYM), UInt32(SHT_SYMTAB)] {
            for table in sections where table.sh_type == wanted && Int(table.sh_link) < sections.count {
                let strings = sections[Int(table.sh_link)]
                guard fits(table.sh_offset, table.sh_size), fits(strings.sh_offset, strings.sh_size) else { continue }
                let names = Int(strings.sh_offset)..<Int(strings.sh_offset + strings.sh_size)
                var at = table.sh_offset
                while at + UInt64(MemoryLayout<Elf64_Sym>.size) <= table.sh_offset + table.sh_size,
                    let sym = load(at, as: Elf64_Sym.self)
                {
                    at += UInt64(MemoryLayout<Elf64_Sym>.size)
                    let type = Int32(sym.st_info & 0xF)
                    // STT_FUNC and STT_GNU_IFUNC (or STT_OBJECT), defined in this file (SHN_UNDEF is 0).
                    let wantedType = dataSymbols ? type == STT_OBJECT : type == STT_FUNC || type == STT_GNU_IFUNC
                    guard wantedType, sym.st_shndx != SHN_UNDEF, sym.st_value != 0 else {
                        continue
                    }
                    let nameAt = names.lowerBound + Int(sym.st_name)
                    guard names.contains(nameAt) else { continue }
                    let end = b[nameAt..<names.upperBound].firstIndex(of: 0) ?? names.upperBound
                    let name = String(decoding: UnsafeRawBufferPointer(rebasing: b[nameAt..<end]), as: UTF8.self)
                    if !name.isEmpty {
                        keep(Symbol(address: sym.st_value, size: sym.st_size, name: name, binding: sym.st_info >> 4))
                    }
                }
            }
        }
        symbols = byAddress.values.sorted { $0.address < $1.address }
        buildID =
            sections.lazy.filter { $0.sh_type == UInt32(SHT_NOTE) && fits($0.sh_offset, $0.sh_size) }.compactMap {
                note in
                Self.buildID(
                    inNotes: UnsafeRawBufferPointer(
                        rebasing: b[Int(note.sh_offset)..<Int(note.sh_offset + note.sh_size)]))
            }.first
    }

    /// The separate debug file's symbols too (its addresses are the file's own): distributions
    /// strip .symtab and ship it in /usr/lib/debug/.build-id/xx/yyyy.debug (libc6-dbg and the like).
    public mutating func addDebugSymbols(root: String = "/usr/lib/debug") {
        guard let id = buildID, id.count > 2,
            let debug = ElfImage(
                path: "\(root)/.build-id/\(id.prefix(2))/\(id.dropFirst(2)).debug", dataSymbols: dataSymbols)
        else { return }
        var byAddress = Dictionary(symbols.map { ($0.address, $0) }, uniquingKeysWith: { a, _ in a })
        for s in debug.symbols where byAddress[s.address].map({ s.isBetter(than: $0) }) ?? true {
            byAddress[s.address] = s
        }
        symbols = byAddress.values.sorted { $0.address < $1.address }
    }

    /// The NT_GNU_BUILD_ID note among ELF notes (a note section, or the running kernel's
    /// /sys/kernel/notes), in hex. Each note: namesz, descsz, type (u32 each), then the name and
    /// the desc, each padded to 4 bytes; the build ID is type 3 named "GNU".
    public static func buildID(inNotes b: UnsafeRawBufferPointer) -> String? {
        var at = 0
        while at + 12 <= b.count {
            let namesz = Int(b.loadUnaligned(fromByteOffset: at, as: UInt32.self))
            let descsz = Int(b.loadUnaligned(fromByteOffset: at + 4, as: UInt32.self))
            let type = b.loadUnaligned(fromByteOffset: at + 8, as: UInt32.self)
            let desc = at + 12 + (namesz + 3) / 4 * 4
            guard namesz < b.count, descsz < b.count, desc + descsz <= b.count else { return nil }
            if type == NT_GNU_BUILD_ID, namesz == 4, b[at + 12] == 0x47, b[at + 13] == 0x4E, b[at + 14] == 0x55 {
                return (desc..<(desc + descsz)).map { String(format: "%02x", b[$0]) }.joined()
            }
            at = desc + (descsz + 3) / 4 * 4
        }
        return nil
    }

    /// The virtual address (as linked) of a file offset, through the PT_LOAD segment holding it.
    func address(ofFileOffset offset: UInt64) -> UInt64? {
        guard let s = segments.first(where: { offset >= $0.offset && offset - $0.offset < $0.size }) else { return nil }
        return (offset - s.offset) &+ s.vaddr
    }

    /// Whether a virtual address (as linked) is in a PT_LOAD segment's memory, its .bss included.
    func isLoaded(_ address: UInt64) -> Bool {
        segments.contains { address >= $0.vaddr && address - $0.vaddr < max($0.size, $0.memorySize) }
    }

    /// The function covering `address`: within its size, or, for a symbol of size 0, up to the next.
    public func symbol(at address: UInt64) -> Symbol? {
        guard let i = symbols.lastIndex(atOrBelow: address, by: \.address) else { return nil }
        let s = symbols[i]
        return s.size == 0 || address - s.address < s.size ? s : nil
    }
}
