import CLockstat
import Foundation
import XCTest

@testable import LockstatModules

/// The DWARF user-stack unwinder (UserUnwinder) on this test process's own stack, against
/// glibc's backtrace(3) (libgcc's DWARF unwinder) from the same place: no root, no workload.
final class UserUnwinderTests: XCTestCase {
    /// This process's executable mappings from /proc/self/maps, with their files' build IDs.
    func ownMappings() throws -> [UserMapping] {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        return maps.split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ", omittingEmptySubsequences: true)
            guard f.count >= 6, f[1].contains("x"), f[5].hasPrefix("/") else { return nil }
            let range = f[0].split(separator: "-")
            guard let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16),
                let offset = UInt64(f[2], radix: 16)
            else { return nil }
            let path = String(line[f[5].startIndex...])
            return UserMapping(
                path: path, start: start, end: end, fileOffset: offset, buildID: UserMapping.buildID(ofFile: path))
        }
    }

    /// This thread's registers and stack copy taken inside ls_unwind_capture_self, and
    /// backtrace(3)'s return addresses from there; nil off x86-64.
    func capture(stackBytes: Int = 32768) -> (registers: UserRegisters, stack: [UInt8], backtrace: [UInt64])? {
        var registers = UserRegisters()
        var stack = [UInt8](repeating: 0, count: stackBytes)
        var copied = 0
        var trace = [UnsafeMutableRawPointer?](repeating: nil, count: 64)
        var traced: Int32 = 0
        let captured = stack.withUnsafeMutableBytes { bytes in
            ls_unwind_capture_self(
                &registers.values, &registers.known, bytes.baseAddress, bytes.count, &copied, &trace,
                Int32(trace.count),
                &traced)
        }
        guard captured == 0 else { return nil }
        return (registers, Array(stack.prefix(copied)), trace.prefix(Int(traced)).map { UInt64(UInt(bitPattern: $0)) })
    }

    /// Captures here, in a function of this test (Swift, with its own .eh_frame), and unwinds the
    /// copy: every return address the unwinder finds is backtrace's at the same depth, through
    /// this test's frames and XCTest's.
    func testOwnStackUnwindsAsBacktraceDoes() throws {
        var registers = UserRegisters()
        var stack = [UInt8](repeating: 0, count: 32768)
        var copied = 0
        var trace = [UnsafeMutableRawPointer?](repeating: nil, count: 64)
        var traced: Int32 = 0
        let captured = stack.withUnsafeMutableBytes { bytes in
            ls_unwind_capture_self(
                &registers.values, &registers.known, bytes.baseAddress, bytes.count, &copied, &trace,
                Int32(trace.count),
                &traced)
        }
        guard captured == 0 else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let backtrace = trace.prefix(Int(traced)).map { UInt64(UInt(bitPattern: $0)) }
        let unwinder = UserUnwinder()
        let mappings = try ownMappings()
        let ours = stack.withUnsafeBytes { unwinder.unwind(mappings: mappings, registers: registers, stack: $0) }
        // Frame 0 is inside ls_unwind_capture_self for both (at the capture, at the backtrace call).
        let depth = min(ours.pcs.count, backtrace.count)
        XCTAssertGreaterThanOrEqual(
            depth, 6, "ours \(ours.pcs.count) frames (\(ours.stopReason ?? "whole")), backtrace \(backtrace.count)")
        XCTAssertEqual(Array(ours.pcs[1..<depth]), Array(backtrace[1..<depth]), ours.stopReason ?? "")
        XCTAssertEqual(ours.returnAddress.prefix(depth), [false] + Array(repeating: true, count: depth - 1))
        XCTAssertTrue(unwinder.leftOut.isEmpty, "\(unwinder.leftOut)")
    }

    /// A file whose build ID is not the one recorded (replaced since the run) is left out and
    /// said so: its CFI is not used (libdwfl may still walk frame pointers through its frames).
    func testReplacedFileIsLeftOut() throws {
        var registers = UserRegisters()
        var stack = [UInt8](repeating: 0, count: 32768)
        var copied = 0
        var trace = [UnsafeMutableRawPointer?](repeating: nil, count: 8)
        var traced: Int32 = 0
        let captured = stack.withUnsafeMutableBytes { bytes in
            ls_unwind_capture_self(
                &registers.values, &registers.known, bytes.baseAddress, bytes.count, &copied, &trace,
                Int32(trace.count),
                &traced)
        }
        guard captured == 0 else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let pc = registers[UserRegisters.pc]
        var mappings = try ownMappings()
        let i = try XCTUnwrap(mappings.firstIndex { pc >= $0.start && pc < $0.end }, "the capture's own file is mapped")
        let own = mappings[i].path
        mappings = mappings.map { m in
            var m = m
            if m.path == own { m.buildID = String(repeating: "ab", count: 20) }
            return m
        }
        let unwinder = UserUnwinder()
        let ours = stack.withUnsafeBytes { unwinder.unwind(mappings: mappings, registers: registers, stack: $0) }
        XCTAssertEqual(unwinder.leftOut[own], .otherBuild)
        XCTAssertEqual(ours.pcs.first, pc)
        let recorded = try ownMappings()
        let whole = UserUnwinder()
        _ = stack.withUnsafeBytes { whole.unwind(mappings: recorded, registers: registers, stack: $0) }
        XCTAssertTrue(whole.leftOut.isEmpty, "with the build IDs as recorded: \(whole.leftOut)")
    }

    /// A copy cut short (the kernel or a BPF program copied less than the stack holds) gives a
    /// prefix of the whole stack's frames: nothing is read past the copy's end, no frame invented.
    /// Each unwind reuses the one address space opened for the mappings.
    func testShortCopiesGivePrefixes() throws {
        guard let (registers, stack, _) = capture() else {
            throw XCTSkip("SKIPPED: the capture is written for x86-64 only")
        }
        let mappings = try ownMappings()
        let unwinder = UserUnwinder()
        let whole = stack.withUnsafeBytes { unwinder.unwind(mappings: mappings, registers: registers, stack: $0) }
        XCTAssertGreaterThan(whole.pcs.count, 6)
        var depths: [Int] = []
        for size in [0, 8, 100, 512, 2048, stack.count] {
            let short = stack.prefix(size).withUnsafeBytes {
                unwinder.unwind(mappings: mappings, registers: registers, stack: $0)
            }
            XCTAssertEqual(short.pcs, Array(whole.pcs.prefix(short.pcs.count)), "a copy of \(size) bytes")
            XCTAssertGreaterThanOrEqual(short.pcs.count, 1, "the interrupted pc needs no stack")
            depths.append(short.pcs.count)
        }
        XCTAssertEqual(depths, depths.sorted(), "a longer copy never gives fewer frames")
        XCTAssertLessThan(depths[0], whole.pcs.count, "with no stack at all the unwinding stops early")
        XCTAssertEqual(depths.last, whole.pcs.count)
    }

    /// Mapped paths that are no library now: a FIFO (opening it must not block), a directory, a
    /// text file, and a real file at an offset no segment holds. Each is left out with its
    /// reason; the stack unwinds as without them.
    func testMappingsThatAreNoLibraryAreLeftOut() throws {
        guard let (registers, stack, _) = capture() else {
            throw XCTSkip("SKIPPED: the capture is written for x86-64 only")
        }
        let dir = temporaryDirectory()
        XCTAssertEqual(mkfifo(dir + "/fifo", 0o600), 0)
        try "not ELF\n".write(toFile: dir + "/text", atomically: true, encoding: .utf8)
        let mappings = try ownMappings()
        let own = try XCTUnwrap(mappings.first { $0.path.contains("lockstatPackageTests") })
        // Below any real mapping of an x86-64 process (the kernel keeps the first 64 KiB unmapped).
        let odd = [
            UserMapping(path: dir + "/fifo", start: 0x1000, end: 0x2000, fileOffset: 0, buildID: ""),
            UserMapping(path: dir, start: 0x2000, end: 0x3000, fileOffset: 0, buildID: ""),
            UserMapping(path: dir + "/text", start: 0x3000, end: 0x4000, fileOffset: 0, buildID: ""),
            UserMapping(path: own.path, start: 0x4000, end: 0x5000, fileOffset: 1 << 40, buildID: own.buildID),
        ]
        let unwinder = UserUnwinder()
        let ours = stack.withUnsafeBytes { unwinder.unwind(mappings: odd + mappings, registers: registers, stack: $0) }
        XCTAssertEqual(unwinder.leftOut[dir + "/fifo"], .unreadable)
        XCTAssertEqual(unwinder.leftOut[dir], .unreadable)
        XCTAssertEqual(unwinder.leftOut[dir + "/text"], .unreadable)
        XCTAssertEqual(unwinder.leftOut[own.path], .noSegment)
        let clean = stack.withUnsafeBytes { UserUnwinder().unwind(mappings: mappings, registers: registers, stack: $0) }
        XCTAssertEqual(ours.pcs, clean.pcs)
    }

    /// The frame bound cuts a deep stack at exactly `maxFrames`, and a stack copy of other bytes
    /// than the registers' (damaged, or another task's) ends within it.
    func testFrameBoundAndWrongStackBytes() throws {
        guard let (registers, stack, _) = capture() else {
            throw XCTSkip("SKIPPED: the capture is written for x86-64 only")
        }
        let mappings = try ownMappings()
        let deep = stack.withUnsafeBytes { UserUnwinder().unwind(mappings: mappings, registers: registers, stack: $0) }
        XCTAssertGreaterThan(deep.pcs.count, 5)
        let unwinder = UserUnwinder(maxFrames: 4)
        let cut = stack.withUnsafeBytes { unwinder.unwind(mappings: mappings, registers: registers, stack: $0) }
        XCTAssertEqual(cut.pcs, Array(deep.pcs.prefix(4)))
        XCTAssertNil(cut.stopReason, "the bound is no failure")
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        let noise = (0..<(stack.count / 8)).map { _ -> UInt64 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state
        }
        let random = noise.withUnsafeBytes { unwinder.unwind(mappings: mappings, registers: registers, stack: $0) }
        XCTAssertGreaterThanOrEqual(random.pcs.count, 1)
        XCTAssertLessThanOrEqual(random.pcs.count, 4)
        XCTAssertEqual(random.pcs.first, registers[UserRegisters.pc])
    }

    /// PERF_SAMPLE_REGS_USER and PERF_SAMPLE_STACK_USER (perf record --call-graph dwarf) after
    /// the fields before them: the registers of the mask, the stack's dyn_size bytes only.
    func testPerfSampleDecodesUserRegistersAndStack() throws {
        let mask: UInt64 = 0x1c0  // BP, SP, IP
        var r = PerfSampleTests.Record()
        r.u64(0x1234)  // IP
        r.u32(7)
        r.u32(8)  // TID
        r.u64(3)  // REGS_USER: abi (PERF_SAMPLE_REGS_ABI_64), then the 3 registers
        [0xb0, 0x5000, 0x401000].forEach { r.u64($0) }
        r.u64(16)  // STACK_USER: size, data[size], dyn_size
        r.bytes += Array(1...16)
        r.u64(12)
        r.u64(99)  // a field after STACK_USER (WEIGHT), left unread
        let format: PerfSample.Format = [.ip, .tid, .userRegisters, .userStack]
        try r.bytes.withUnsafeBytes { b in
            let s = try XCTUnwrap(PerfSample(b, format: format, userRegisterMask: mask))
            XCTAssertEqual(s.ip, 0x1234)
            XCTAssertEqual(s.userRegistersABI, 3)
            XCTAssertEqual(Array(s.userStack), Array(1...12), "dyn_size of the 16 bytes")
            let regs = UserRegisters(perfMask: mask, registers: s.userRegisters)
            XCTAssertEqual(regs[UserRegisters.bp], 0xb0)
            XCTAssertEqual(regs[UserRegisters.sp], 0x5000)
            XCTAssertEqual(regs[UserRegisters.pc], 0x401000)
            XCTAssertEqual(regs.known, 1 << 6 | 1 << 7 | 1 << 16)
            XCTAssertNil(
                PerfSample(
                    UnsafeRawBufferPointer(rebasing: b[0..<(b.count - 24)]), format: format, userRegisterMask: mask),
                "torn in the stack")
        }
        // A task with no user context (abi 0): no registers follow; a stack size of 0: no data, no dyn_size.
        var k = PerfSampleTests.Record()
        k.u64(0x1234)
        k.u32(7)
        k.u32(8)
        k.u64(0)
        k.u64(0)
        try k.bytes.withUnsafeBytes { b in
            let s = try XCTUnwrap(PerfSample(b, format: format, userRegisterMask: mask))
            XCTAssertEqual(s.userRegistersABI, 0)
            XCTAssertEqual(s.userRegisters.count, 0)
            XCTAssertEqual(s.userStack.count, 0)
        }
    }

    /// Bytes of perf's user registers (PERF_SAMPLE_REGS_USER, perf's x86 order) land in DWARF's.
    func testPerfRegistersInDwarfOrder() {
        // sample_regs_user 0xff0fff: AX..GS less DS ES FS GS, then R8..R15 (perf's --call-graph dwarf).
        let mask: UInt64 = 0xff0fff
        let values = (0..<UInt64(mask.nonzeroBitCount)).map { 100 + $0 }
        let r = values.withUnsafeBytes { UserRegisters(perfMask: mask, registers: $0) }
        // Slots: AX0 BX1 CX2 DX3 SI4 DI5 BP6 SP7 IP8 FLAGS9 CS10 SS11 R8 12 ... R15 19.
        XCTAssertEqual(r[0], 100, "rax")
        XCTAssertEqual(r[1], 103, "rdx")
        XCTAssertEqual(r[3], 101, "rbx")
        XCTAssertEqual(r[UserRegisters.sp], 107)
        XCTAssertEqual(r[UserRegisters.pc], 108)
        XCTAssertEqual(r[8], 112, "r8")
        XCTAssertEqual(r[15], 119, "r15")
        XCTAssertEqual(r.known, (1 << 17) - 1)
    }
}
