import CLockstat
import Foundation

/// A file a process had mapped, as recorded at the run: where, from which file offset, and the
/// file's GNU build ID (hex; "" when none was recorded: the file is then not checked), which
/// tells a file replaced since.
public struct UserMapping: Hashable, Sendable {
    public var path: String
    public var start: UInt64
    public var end: UInt64
    public var fileOffset: UInt64
    public var buildID: String

    public init(path: String, start: UInt64, end: UInt64, fileOffset: UInt64, buildID: String) {
        self.path = path
        self.start = start
        self.end = end
        self.fileOffset = fileOffset
        self.buildID = buildID
    }

    /// The GNU build ID of the ELF file at `path`, in hex; "" when it cannot be read or has none.
    public static func buildID(ofFile path: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 64)
        let n = ls_elf_build_id(path, &bytes, bytes.count)
        return n > 0 ? bytes.prefix(Int(n)).map { String(format: "%02x", $0) }.joined() : ""
    }
}

/// A task's user registers at an event, in x86-64's DWARF numbering (System V psABI): rax rdx
/// rcx rbx rsi rdi rbp rsp r8 ... r15, then the pc (16). Unwinding needs the pc and rsp; the
/// callee-saved ones (rbx, rbp, r12-r15) let it go on through frames that keep their CFA or a
/// caller's value in them.
public struct UserRegisters: Sendable {
    public static let count = Int(LS_UNWIND_REGISTERS)
    public static let sp = 7, bp = 6, pc = 16
    public var values = [UInt64](repeating: 0, count: count)
    /// Bit i: register i was taken.
    public var known: UInt32 = 0

    public init() {}

    public init(pc: UInt64, sp: UInt64, bp: UInt64) {
        self[Self.pc] = pc
        self[Self.sp] = sp
        self[Self.bp] = bp
    }

    public subscript(register: Int) -> UInt64 {
        get { values[register] }
        set {
            values[register] = newValue
            known |= 1 << UInt32(register)
        }
    }

    /// For each DWARF register, its index in perf's x86 register order (PERF_REG_X86_*:
    /// arch/x86/include/uapi/asm/perf_regs.h): AX BX CX DX SI DI BP SP IP FLAGS CS SS DS ES FS GS R8..R15.
    static let perfIndex = [0, 3, 2, 1, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23, 8]

    /// From a PERF_SAMPLE_REGS_USER block: `registers` holds the values of the bits set in
    /// `mask` (perf_event_attr.sample_regs_user), lowest bit first.
    public init(perfMask mask: UInt64, registers: UnsafeRawBufferPointer) {
        for (dwarf, perf) in Self.perfIndex.enumerated() where mask & (1 << UInt64(perf)) != 0 {
            let slot = (mask & ((1 << UInt64(perf)) - 1)).nonzeroBitCount
            guard (slot + 1) * 8 <= registers.count else { continue }
            self[dwarf] = registers.loadUnaligned(fromByteOffset: slot * 8, as: UInt64.self)
        }
    }
}

/// Unwinds user stacks by the mapped files' DWARF call-frame information (.eh_frame,
/// .debug_frame) through elfutils' libdwfl, as `perf record --call-graph dwarf` does
/// (tools/perf/util/unwind-libdw.c): from the registers taken at an event and a copy of the
/// stack from rsp upward. Code built without frame pointers (Debian's libc) unwinds whole.
/// The files are opened once per mapping set (the CFI is then cached by libdwfl); a file whose
/// build ID is not the one recorded is left out: its frames get no CFI (libdwfl then follows the
/// frame-pointer chain, as for any code without CFI, and a wrong frame ends the stack).
/// One unwinder is used by one thread at a time.
///
/// What a recorder keeps for it: per process, its file mappings as they appear (/proc/PID/maps
/// at the start, then each new one: PERF_RECORD_MMAP2, or a BPF event at mmap), each with its
/// build ID (MMAP2 carries it with perf_event_attr.build_id; else `UserMapping.buildID(ofFile:)`
/// while the run lasts); per stack, the pid, the registers (the pc and rsp at least; rbp, rbx
/// and r12-r15 let frames that keep values in them unwind) and the bytes from rsp upward.
public final class UserUnwinder {
    public struct Stack: Equatable {
        /// Innermost first: the interrupted pc, then return addresses.
        public var pcs: [UInt64] = []
        /// Per frame: the pc is a return address (look up pc - 1: the call may be a function's last instruction).
        public var returnAddress: [Bool] = []
        /// Why the unwinding stopped before the outermost frame (libdwfl's words); nil when it got there.
        public var stopReason: String?
    }

    /// Why a mapped file was left out.
    public enum LeftOut: String, Sendable {
        case unreadable = "cannot be read as ELF"
        case otherBuild = "was replaced since the run (its build ID differs)"
        case noSegment = "has no loadable segment at the mapped offset"
        case refused = "was refused by libdwfl"
    }

    private final class AddressSpace {
        let handle: OpaquePointer?
        init(_ mappings: [UserMapping], leftOut: inout [String: LeftOut]) {
            guard let u = ls_unwinder_new() else {
                handle = nil
                return
            }
            for m in mappings where m.path.hasPrefix("/") {
                let path = m.path.hasSuffix(" (deleted)") ? String(m.path.dropLast(10)) : m.path
                let id = UserUnwinder.bytes(hex: m.buildID)
                let status = id.withUnsafeBufferPointer {
                    Int(ls_unwinder_add_mapping(u, path, m.start, m.end, m.fileOffset, $0.baseAddress, $0.count))
                }
                switch status {
                case Int(LS_UNWIND_UNREADABLE): leftOut[path] = .unreadable
                case Int(LS_UNWIND_OTHER_BUILD): leftOut[path] = .otherBuild
                case Int(LS_UNWIND_NO_SEGMENT): leftOut[path] = .noSegment
                case Int(LS_UNWIND_REFUSED): leftOut[path] = .refused
                default: break
                }
            }
            if ls_unwinder_ready(u) != 0 {
                ls_unwinder_free(u)
                handle = nil
            } else {
                handle = u
            }
        }
        deinit { ls_unwinder_free(handle) }
    }

    /// Address spaces kept open, oldest first; beyond `capacity` the oldest is closed.
    private var spaces: [[UserMapping]: AddressSpace] = [:]
    private var order: [[UserMapping]] = []
    private var last: (mappings: [UserMapping], space: AddressSpace)?
    private let capacity: Int
    /// The files left out of some address space, and why.
    public private(set) var leftOut: [String: LeftOut] = [:]
    private var pcs: [UInt64]
    private var activation: [UInt8]

    /// `maxFrames`: the deepest stack returned (perf's default max-stack is 127).
    public init(capacity: Int = 64, maxFrames: Int = 127) {
        precondition(capacity >= 1 && maxFrames >= 1, "UserUnwinder: keeps at least one address space and frame")
        self.capacity = capacity
        pcs = [UInt64](repeating: 0, count: maxFrames)
        activation = [UInt8](repeating: 0, count: maxFrames)
    }

    /// The stack whose registers were `registers` and whose bytes from rsp upward are `stack`, in
    /// a process that had `mappings` (executable ones suffice; others are harmless).
    public func unwind(mappings: [UserMapping], registers: UserRegisters, stack: UnsafeRawBufferPointer) -> Stack {
        let space: AddressSpace
        // The same array as the last call's (a process's mappings unchanged between its stacks)
        // compares by its storage at once; hashing it would read every path.
        if let last, last.mappings == mappings {
            space = last.space
        } else if let open = spaces[mappings] {
            space = open
        } else {
            if order.count >= capacity { spaces[order.removeFirst()] = nil }
            space = AddressSpace(mappings, leftOut: &leftOut)
            spaces[mappings] = space
            order.append(mappings)
        }
        last = (mappings, space)
        guard let handle = space.handle else { return Stack(stopReason: "no mapped file could be read") }
        let n = registers.values.withUnsafeBufferPointer { regs in
            pcs.withUnsafeMutableBufferPointer { pcs in
                activation.withUnsafeMutableBufferPointer { activation in
                    ls_unwinder_unwind(
                        handle, regs.baseAddress, registers.known, stack.baseAddress, stack.count, pcs.baseAddress,
                        activation.baseAddress, Int32(pcs.count))
                }
            }
        }
        guard n >= 0 else { return Stack(stopReason: "the registers lack the pc or the stack pointer") }
        let count = Int(n)
        return Stack(
            pcs: Array(pcs.prefix(count)),
            returnAddress: (0..<count).map { $0 > 0 && activation[$0] == 0 },
            stopReason: ls_unwinder_stop_reason(handle).map { String(cString: $0) })
    }

    static func bytes(hex: String) -> [UInt8] {
        let digits = Array(hex.utf8)
        guard digits.count % 2 == 0 else { return [] }
        var out = [UInt8]()
        out.reserveCapacity(digits.count / 2)
        for i in stride(from: 0, to: digits.count, by: 2) {
            guard let b = UInt8(String(decoding: digits[i..<(i + 2)], as: UTF8.self), radix: 16) else { return [] }
            out.append(b)
        }
        return out
    }
}
