import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module's names recorded at the end of a run (FutexNames, stream 18): what parse
/// takes instead of the mapped files, on raw logs written here with a copy of this test's own
/// stack (as FutexDwarfTests): no kernel needed.
final class FutexRecordedNamesTests: XCTestCase {
    static let pid: UInt32 = 42

    /// This thread's registers and its stack from sp up, taken inside ls_unwind_capture_self; nil off x86-64.
    func capture() -> [UInt8]? {
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
        var s = ls_futex_sample()
        s.tgid = Self.pid
        s.tid = Self.pid + 1
        s.user_stack = 5
        s.ip = registers[UserRegisters.pc]
        s.sp = registers[UserRegisters.sp]
        s.bp = registers[UserRegisters.bp]
        s.size = UInt32(copied)
        withUnsafeMutableBytes(of: &s.stack) { $0.copyBytes(from: stack.prefix(copied)) }
        return withUnsafeBytes(of: s) { Array($0) }
    }

    /// A run's log: this process's maps and its code files' build IDs (`replacing`: this file's
    /// recorded as another build, as if rebuilt since), one stack copy of call path (pid, stack 5),
    /// one wait on it woken from the same path, on a word inside the maps (`word`), and `names`.
    func log(sample: [UInt8], word: UInt64, replacing: String? = nil, names: String? = nil) throws -> RawLog {
        let (writer, path) = try futexLogOfThisProcess(pid: Self.pid, replacing: replacing)
        sample.withUnsafeBytes {
            writer.append(kind: .side, stream: FutexRecorder.samplesStream, tick: 1, time: 2, payload: $0)
        }
        var e = ls_futex_entry()
        e.key.uaddr = word
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
        withUnsafeBytes(of: e) {
            writer.append(kind: .snapshot, stream: FutexRecorder.waitsStream, tick: 1, time: 2, payload: $0)
        }
        if let names {
            writer.append(kind: .snapshot, stream: FutexRecorder.namesStream, tick: UInt64.max, time: 3, text: names)
        }
        return try RawLog.read(path: path)
    }

    /// The file the copy's leaf (ls_unwind_capture_self) is in, and the address of a word of
    /// this test's data.
    func ownFileAndWord(_ sample: [UInt8]) throws -> (path: String, word: UInt64) {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        var spaces = AddressSpaces()
        spaces.load(snapshot: "= 1 self\n" + maps)
        let ip = sample.withUnsafeBytes {
            $0.loadUnaligned(
                fromByteOffset: MemoryLayout<ls_futex_sample>.offset(of: \ls_futex_sample.ip)!, as: UInt64.self)
        }
        let path = try XCTUnwrap(spaces.mapping(pid: 1, address: ip)?.path)
        let word = withUnsafePointer(to: &FutexRecordedNamesTests.lockWord) { UInt64(UInt(bitPattern: $0)) }
        return (path, word)
    }

    nonisolated(unsafe) static var lockWord: Int32 = 0

    /// The names made from the files at the end of the run, written as the recorder writes them,
    /// are what parse takes once the file is another build: the same waits, stacks, sources,
    /// lock word and counts, and no file said to be replaced (the files are not opened).
    func testRecordedNamesSurviveARebuiltFile() throws {
        guard let sample = capture() else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let (own, word) = try ownFileAndWord(sample)
        let atTheEnd = try FutexAnalysis(log: log(sample: sample, word: word))
        let w = try XCTUnwrap(atTheEnd.waits.first)
        XCTAssertEqual(w.waiterSource, .dwarf)
        XCTAssertFalse(w.lock.hasPrefix("0x"), "named from the run's file: \(w.lock)")
        XCTAssertEqual(atTheEnd.names.stacks.count, 1, "one call path, both sides")
        XCTAssertEqual(atTheEnd.names.locks.count, 1)

        let text = atTheEnd.names.text
        XCTAssertEqual(FutexNames(text: text), atTheEnd.names, "the names read back as written")
        let copied = try FutexAnalysis(log: log(sample: sample, word: word, replacing: own, names: text))
        XCTAssertEqual(copied.replacedFiles, [], "the rebuilt file is not opened")
        XCTAssertTrue(copied.names.stacks.isEmpty && copied.names.locks.isEmpty, "nothing named from files")
        XCTAssertEqual(copied.dwarfUnwound, atTheEnd.dwarfUnwound)
        let c = try XCTUnwrap(copied.waits.first)
        XCTAssertEqual(c.lock, w.lock)
        XCTAssertEqual(c.waiter, w.waiter)
        XCTAssertEqual(c.waker, w.waker)
        XCTAssertEqual(c.kind, w.kind)
        XCTAssertEqual(c.waiterStack, w.waiterStack)
        XCTAssertEqual(c.wakerStack, w.wakerStack)
        XCTAssertEqual(c.waiterSource, .dwarf)
        XCTAssertEqual(FutexModel(copied).entry, FutexModel(atTheEnd).entry)

        // Without the names, the rebuilt file is refused, as for an older run's log.
        let older = try FutexAnalysis(log: log(sample: sample, word: word, replacing: own))
        XCTAssertEqual(older.replacedFiles, [own])
        XCTAssertNotEqual(older.waits.first?.waiterStack, w.waiterStack)
    }

    /// Recorded names win over what the files say now, and the files' warnings recorded at the
    /// end of the run are said again.
    func testRecordedNamesWinAndCarryTheirWarnings() throws {
        guard let sample = capture() else { throw XCTSkip("SKIPPED: the capture is written for x86-64 only") }
        let (_, word) = try ownFileAndWord(sample)
        let text = """
            s\t\(Self.pid)\t5\t-\tscanned
            f\t__lll_lock_wait\tlibc.so.6\tlibrary
            f\trecorded_caller\tprog\tprogram
            l\t\(Self.pid)\t\(String(word, radix: 16))\trecorded_lock (prog)
            x\t/gone/prog
            r\t/gone/lib.so
            o\t\(UserUnwinder.LeftOut.otherBuild.rawValue)\t/gone/lib.so

            """
        let raw = try log(sample: sample, word: word, names: text)
        let a = try FutexAnalysis(log: raw)
        let w = try XCTUnwrap(a.waits.first)
        XCTAssertEqual(w.lock, "recorded_lock (prog)")
        XCTAssertEqual(w.waiter, "recorded_caller")
        XCTAssertEqual(w.waiterStack, ["recorded_caller", "__lll_lock_wait"], "root first")
        XCTAssertEqual(w.kind, .mutex)
        XCTAssertEqual(w.waiterSource, .scanned)
        XCTAssertEqual(a.dwarfUnwound, 0)
        let warnings = try FutexModule().parse(raw, config: Config(modules: ["futex"])).warnings
        XCTAssertTrue(warnings.contains { $0.hasPrefix("no symbols in /gone/prog (stripped)") }, "\(warnings)")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("/gone/lib.so replaced since the run") }, "\(warnings)")

        // A names record that is not names is counted as damaged and parse names from the files.
        let damaged = try FutexAnalysis(log: log(sample: sample, word: word, names: "s\tnot a pid\n"))
        XCTAssertEqual(damaged.damaged, 1)
        XCTAssertEqual(damaged.waits.first?.waiterSource, .dwarf)
    }

    /// A name holding a tab or a newline (an ELF symbol may) is written with spaces there, so
    /// one name stays one field of one line.
    func testNamesWithTabsStayOneField() throws {
        var names = FutexNames()
        let site = FutexAnalysis.Site(tgid: 7, userStack: 3, scanned: [0x401000, 0x7f00_0000_1234])
        names.stacks[site] = FutexNames.Stack(
            frames: [Symbolizer.Frame(symbol: "odd\tname\nhere", image: "prog", kind: .program)], source: .dwarf)
        names.locks[FutexNames.LockWord(tgid: 7, address: 0x4040)] = "a lock\t(prog)"
        let back = try XCTUnwrap(FutexNames(text: names.text))
        XCTAssertEqual(back.stacks[site]?.frames.map(\.symbol), ["odd name here"])
        XCTAssertEqual(back.stacks[site]?.source, .dwarf)
        XCTAssertEqual(back.locks[FutexNames.LockWord(tgid: 7, address: 0x4040)], "a lock (prog)")
    }
}
