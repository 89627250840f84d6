import CLockstat
import Foundation
import LockstatCore

/// Names the code at a sampled address: kernel addresses from kallsyms (or the config's
/// vmlinux), user addresses from the ELF file mapped there (file offset → link address through
/// its program headers). Each file's symbol table is read once; each name demangled once.
final class Symbolizer {
    enum ImageKind: String { case kernel, program, library, unknown }

    struct Frame: Hashable {
        var symbol: String
        var image: String
        var kind: ImageKind
    }

    static let unknownSymbol = "[unknown]"
    let kernel: KernelSymbols
    private var images: [String: ElfImage] = [:]
    private var unreadable: Set<String> = []
    private var names: [String: String] = [:]

    init(kernel: KernelSymbols) { self.kernel = kernel }

    /// Files that could not be read as ELF (gone, or not ELF): their frames show `[unknown]`.
    var unreadableFiles: [String] { unreadable.sorted() }
    /// Files whose symbols were read.
    var filesRead: [String] { images.keys.sorted() }
    /// Files read that name no function (stripped, no debug file found): their frames are [unknown].
    var filesWithoutSymbols: [String] { images.filter { $0.value.symbols.isEmpty }.keys.sorted() }

    func kernelFrame(_ address: UInt64) -> Frame {
        Frame(symbol: kernel.functionName(address) ?? Self.unknownSymbol, image: kernel.image(address), kind: .kernel)
    }

    /// `returnAddress`: a caller's frame holds the address after its call instruction, which may
    /// be the next function's first byte; look one byte back, as perf does.
    func userFrame(_ address: UInt64, in mapping: AddressSpaces.Mapping?, returnAddress: Bool) -> Frame {
        guard let mapping else { return Frame(symbol: Self.unknownSymbol, image: "[unknown]", kind: .unknown) }
        let file =
            mapping.sharedMemory
            ?? (mapping.path.hasSuffix(" (deleted)") ? String(mapping.path.dropLast(10)) : mapping.path)
        let imageName = file.hasPrefix("[") ? file : String(file.split(separator: "/").last ?? "")
        let kind: ImageKind = file.hasPrefix("[") || imageName.contains(".so") ? .library : .program
        var symbol = Self.unknownSymbol
        if file.hasPrefix("/"), let elf = image(file) {
            // Wrapping: a return address at a mapping's first byte (the frame before it is elsewhere) is no crash.
            let offset = (address &- mapping.start) &+ mapping.fileOffset &- (returnAddress ? 1 : 0)
            if let linked = elf.address(ofFileOffset: offset), let s = elf.symbol(at: linked) {
                symbol = demangled(s.name)
            }
        }
        return Frame(symbol: symbol, image: imageName.isEmpty ? "[unknown]" : imageName, kind: kind)
    }

    /// A process mapping as pprof keeps it, with its file's build ID when the file can be read.
    func pprofMapping(_ m: AddressSpaces.Mapping) -> StackProfile.Mapping {
        let file = m.path.hasSuffix(" (deleted)") ? String(m.path.dropLast(10)) : m.path
        let buildID = file.hasPrefix("/") && m.sharedMemory == nil ? image(file)?.buildID ?? "" : ""
        return StackProfile.Mapping(start: m.start, limit: m.end, offset: m.fileOffset, file: file, buildID: buildID)
    }

    private func image(_ path: String) -> ElfImage? {
        if let cached = images[path] { return cached }
        guard !unreadable.contains(path) else { return nil }
        guard var elf = ElfImage(path: path) else {
            unreadable.insert(path)
            return nil
        }
        elf.addDebugSymbols()
        images[path] = elf
        return elf
    }

    private func demangled(_ name: String) -> String {
        if let cached = names[name] { return cached }
        let result = Demangler.demangle(name)
        names[name] = result
        return result
    }
}

/// C++ (Itanium ABI, `_Z…`) and Swift (`$s…`, `_$s…`, older `_T0…`) names made readable.
public enum Demangler {
    public static func demangle(_ name: String) -> String {
        if name.hasPrefix("_Z"), let s = ls_demangle_cxx(name) {
            defer { free(s) }
            return String(cString: s)
        }
        if ["$s", "_$s", "$S", "_$S", "_T0", "$e", "_$e"].contains(where: name.hasPrefix) {
            let s = name.withCString { ls_demangle_swift($0, strlen($0)) }
            if let s {
                defer { free(s) }
                return String(cString: s)
            }
        }
        return name
    }
}
