import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module's stack copies unwound at parse (UserUnwinder over libdwfl) into their key's
/// user stack, from raw logs written here with a copy of this test's own stack: no kernel needed.
final class FutexDwarfTests: XCTestCase {
    static let pid: UInt32 = 42

    /// This thread's registers and its stack from sp up (at most a BPF copy's 4 KiB), taken inside
    /// ls_unwind_capture_self; nil off x86-64.
    func capture() -> (ip: UInt64, sp: UInt64, bp: UInt64, stack: [UInt8])? {
        var registers = UserRegisters()
        var stack = [UInt8](repeating: 0, count: Int(LS_FUTEX_COPY_BYTES))
        var copied = 0
        var trace = [UnsafeMutableRawPointer?](repeating: nil, count: 4)
        var traced: Int32 = 0
        let captured = stack.withUnsafeMutableBytes { bytes in
            ls_unwind_capture_self(
                &registers.values, &registers.known, bytes.baseAddress, bytes.count, &copied, &trace,
                Int32(trace.count), &traced)
        }
        guard captured == 0 else { return nil }
        return (
            registers[UserRegisters.pc], registers[UserRegisters.sp], registers[UserRegisters.bp],
            Array(stack.prefix(copied))
        )
    }

    /// A struct ls_futex_sample as the BPF program writes it, for call path (pid, stack id 5, no scanned words).
    func sample(ip: UInt64, sp: UInt64, bp: UInt64, stack: [UInt8]) -> [UInt8] {
        var s = ls_futex_sample()
        s.tgid = Self.pid
        s.tid = Self.pid + 1
        s.user_stack = 5
        s.ip = ip
        s.sp = sp
        s.bp = bp
        s.size = UInt32(stack.count)
        withUnsafeMutableBytes(of: &s.stack) { $0.copyBytes(from: stack) }
        return withUnsafeBytes(of: s) { Array($0) }
    }

    /// A wait of task pid+1 keyed by stack id 5, woken by pid+2 from the same call path.
    func entry() -> ls_futex_entry {
        var e = ls_futex_entry()
        e.key.uaddr = 0x10
        e.key.tgid = Self.pid
        e.key.tid = Self.pid + 1
        e.key.user_stack = 5
        e.key.kernel_stack = -1
        e.key.waker_user_stack = 5
        e.key.waker_kernel_stack = -1
        e.key.waker_tid = Self.pid + 2
        e.key.waker_tgid = Self.pid
        e.key.outcome = LS_FUTEX_WOKEN.rawValue
        e.key.op = LS_FUTEX_OP_WAIT.rawValue
        e.value.count = 3
        e.value.total_ns = 3_000
        e.value.max_ns = 1_000
        e.value.min_ns = 1_000
        return e
    }

    /// This process's maps as the recorder writes them, and its code files' build IDs
    /// (`replacing`: a file recorded with another build ID, as if replaced since the run).
    func log(samples: [[UInt8]], walked: [UInt64] = [], replacing: String? = nil) throws -> RawLog {
        let (writer, path) = try futexLogOfThisProcess(pid: Self.pid, replacing: replacing)
        // The frame-pointer walk's stack 5.
        var stack = [UInt8]()
        withUnsafeBytes(of: Int32(5)) { stack += $0 }
        withUnsafeBytes(of: UInt32(walked.count)) { stack += $0 }
        walked.withUnsafeBytes { stack += $0 }
        stack.withUnsafeBytes {
            writer.append(kind: .side, stream: FutexRecorder.stacksStream, tick: 0, time: 0, payload: $0)
        }
        for s in samples {
            s.withUnsafeBytes {
                writer.append(kind: .side, stream: FutexRecorder.samplesStream, tick: 1, time: 2, payload: $0)
            }
        }
        withUnsafeBytes(of: entry()) {
            writer.append(kind: .snapshot, stream: FutexRecorder.waitsStream, tick: 1, time: 2, payload: $0)
        }
        return try RawLog.read(path: path)
    }

    /// The copy of this very stack unwinds through the test's own frames: the key's waiter and
    /// waker stacks are the DWARF frames (leaf ls_unwind_capture_self, then this test and
    /// XCTest's callers), said `dwarf` in the tables; the walk's one frame is not used.
    func testStackCopyBecomesTheKeysStack() throws {
        guard let c = capture() else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let a = try FutexAnalysis(
            log: log(samples: [sample(ip: c.ip, sp: c.sp, bp: c.bp, stack: c.stack)], walked: [c.ip]))
        let w = try XCTUnwrap(a.waits.first)
        XCTAssertEqual(w.waiterSource, .dwarf)
        XCTAssertEqual(w.wakerSource, .dwarf)
        XCTAssertEqual(w.waiterStack.last, "ls_unwind_capture_self", "leaf last (root first): \(w.waiterStack)")
        XCTAssertTrue(
            w.waiterStack.contains { $0.contains("testStackCopyBecomesTheKeysStack") }, "\(w.waiterStack)")
        XCTAssertGreaterThan(w.waiterStack.count, 4, "\(w.waiterStack)")
        XCTAssertEqual(w.wakerStack, w.waiterStack)
        XCTAssertEqual(a.dwarfUnwound, 1, "one copy, unwound once for both sides")
        XCTAssertTrue(a.leftOutFiles.isEmpty, "\(a.leftOutFiles)")
        let model = FutexModel(a)
        XCTAssertEqual(model.waiters.map(\.stack), ["dwarf"])
        XCTAssertEqual(model.pairs.map(\.stack), ["dwarf → dwarf"])
        XCTAssertEqual(model.counters.first { $0.name == "dwarf_stacks" }?.value, 1)
        let back = try FutexModel(entry: model.entry)
        XCTAssertEqual(back.waiters.map(\.stack), ["dwarf"])
        XCTAssertEqual(model.results.tables[1].rows.first?.labels.dropFirst().first, "dwarf")
    }

    /// A copy too short to reach a caller (0 bytes: the leaf only) leaves the key's stack to the
    /// frame-pointer walk, said `scanned`; with no copy and no walk the stack is `none`.
    func testShortCopyFallsBackToTheWalk() throws {
        guard let c = capture() else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let a = try FutexAnalysis(log: log(samples: [sample(ip: c.ip, sp: c.sp, bp: c.bp, stack: [])], walked: [c.ip]))
        let w = try XCTUnwrap(a.waits.first)
        XCTAssertEqual(w.waiterSource, .scanned)
        XCTAssertEqual(w.waiterStack, ["ls_unwind_capture_self"])
        XCTAssertEqual(a.dwarfUnwound, 0)
        let none = try XCTUnwrap(try FutexAnalysis(log: log(samples: [])).waits.first)
        XCTAssertEqual(none.waiterSource, .none)
        XCTAssertEqual(none.waiter, "[no stack]")
    }

    /// A code file whose build ID is not the one recorded (replaced since the run) is not used
    /// for unwinding, and said so in the module's warnings.
    func testReplacedFileIsNotUnwoundWith() throws {
        guard let c = capture() else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        var spaces = AddressSpaces()
        spaces.load(snapshot: "= 1 self\n" + maps)
        let own = try XCTUnwrap(spaces.mapping(pid: 1, address: c.ip)?.path)
        let raw = try log(samples: [sample(ip: c.ip, sp: c.sp, bp: c.bp, stack: c.stack)], replacing: own)
        let a = try FutexAnalysis(log: raw)
        XCTAssertEqual(a.leftOutFiles[own], .otherBuild)
        let warnings = try FutexModule().parse(raw, config: Config(modules: ["futex"])).warnings
        XCTAssertTrue(
            warnings.contains { $0.contains(own) && $0.contains("was replaced since the run") }, "\(warnings)")
        // Nor named from: its symbols are another build's.
        XCTAssertEqual(a.replacedFiles, [own])
        XCTAssertTrue(
            warnings.contains { $0.hasPrefix("\(own) replaced since the run (another build ID)") }, "\(warnings)")
        let named = try FutexAnalysis(log: try log(samples: [sample(ip: c.ip, sp: c.sp, bp: c.bp, stack: c.stack)]))
        XCTAssertNotEqual(named.waits.first?.waiter, Symbolizer.unknownSymbol, "the run's build names the frame")
        XCTAssertTrue(
            [Symbolizer.unknownSymbol, "[no stack]"].contains(a.waits.first?.waiter ?? ""),
            "\(a.waits.map(\.waiterStack))")
    }
}
