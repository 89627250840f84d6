import CLockstat
import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// A waker's user stack named from the maps of its process (the entry's waker_tgid): a function
/// of a real ELF file (this test's own executable) mapped where the maps record says, and a log
/// written before the key held waker_tgid read as it was.
final class WakerUserSiteTests: XCTestCase {
    static let kallsyms = """
        ffffffff81004000 T up_write
        ffffffff81005000 T do_rmdir
        ffffffff81007000 T rwsem_down_write_slowpath

        """
    static let lock: UInt64 = 0xffff_8880_0000_1000, base: UInt64 = 0x5550_0000_0000

    /// A function of this executable big enough to hold an address inside it, and the address
    /// it has when its code segment is mapped at `base`, with the maps line that says so.
    func mappedFunction() throws -> (name: String, address: UInt64, maps: String) {
        let exe = try XCTUnwrap(try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
        let elf = try XCTUnwrap(ElfImage(path: exe))
        let code = try XCTUnwrap(elf.segments.max { $0.size < $1.size })
        let f = try XCTUnwrap(
            elf.symbols.first {
                $0.size >= 64 && $0.address >= code.vaddr && $0.address + $0.size <= code.vaddr + code.size
                    && !$0.name.isEmpty
            })
        let address = Self.base + (f.address - code.vaddr) + 16
        let maps = String(
            format: "%llx-%llx r-xp %08llx 00:00 0 %@\n", Self.base, Self.base + code.size, code.offset, exe as NSString)
        return (Demangler.demangle(f.name), address, maps)
    }

    /// A bpf-mode log with one task waker entry whose user stack is `ustack` in process `tgid`;
    /// `older`: written as before waker_tgid (shorter key, no layout field saying it).
    func log(ustack: [UInt64], tgid: UInt32, maps: String?, older: Bool = false) throws -> RawLog {
        let path = temporaryDirectory() + "/contention.log"
        let writer = try RawLogWriter(path: path)
        writer.append(kind: .header, tick: 0, time: 1, text: "module contention\ninterval_ns 500000000\nstart_ns 1\n")
        writer.append(
            kind: .side, stream: ContentionModule.layoutStream, tick: 0, time: 0,
            text: "mode bpf\ncpus 2\nwakers yes\ninterrupt_wakes yes\n" + (older ? "" : "waker_key tgid\n"))
        Array(Self.kallsyms.utf8).withUnsafeBytes {
            writer.append(kind: .snapshot, stream: ContentionModule.kallsymsStream, tick: 0, time: 0, payload: $0)
        }
        func stack(_ id: Int32, _ frames: [UInt64], user: Bool) {
            var bytes = [UInt8](repeating: 0, count: 8 + frames.count * 8)
            bytes.withUnsafeMutableBytes { b in
                b.storeBytes(of: id, as: Int32.self)
                b.storeBytes(of: UInt32(frames.count), toByteOffset: 4, as: UInt32.self)
                for (i, f) in frames.enumerated() { b.storeBytes(of: f, toByteOffset: 8 + i * 8, as: UInt64.self) }
            }
            bytes.withUnsafeBytes {
                writer.append(
                    kind: .side,
                    stream: user ? BPFContentionRecorder.userStacksStream : BPFContentionRecorder.stacksStream,
                    tick: 0, time: 0, payload: $0)
            }
        }
        stack(1, [0xffff_ffff_8100_7010], user: false)
        stack(2, [0xffff_ffff_8100_4010, 0xffff_ffff_8100_517b], user: false)
        stack(3, ustack, user: true)
        if let maps {
            writer.append(kind: .side, stream: BPFContentionRecorder.wakerMapsStream, tick: 1, time: 0, text: maps)
        }
        var wait = ls_bpf_entry()
        wait.key.lock = Self.lock
        wait.key.stack_id = 1
        wait.key.tid = 7
        wait.value.count = 4
        wait.value.total_ns = 400
        wait.value.flags = 4
        withUnsafeBytes(of: wait) {
            writer.append(kind: .snapshot, stream: BPFContentionRecorder.waitsStream, tick: 1, time: 2, payload: $0)
        }
        var e = ls_bpf_waker_entry()
        e.key.lock = Self.lock
        e.key.stack_id = 1
        e.key.waker_stack = 2
        e.key.waker_ustack = 3
        e.key.wake_class = LS_WAKE_TASK.rawValue
        e.key.waker_tgid = tgid
        e.value.count = 4
        e.value.total_ns = 400
        e.value.slept = 4
        e.value.slept_ns = 400
        e.value.wakes = 4
        var bytes = withUnsafeBytes(of: e) { Array($0) }
        if older {
            let key = BPFAggregates.olderWakerKeySize
            bytes = Array(bytes[0..<key]) + withUnsafeBytes(of: e.value) { Array($0) }
        }
        bytes.withUnsafeBytes {
            writer.append(kind: .snapshot, stream: BPFContentionRecorder.wakersStream, tick: 1, time: 2, payload: $0)
        }
        return try RawLog.read(path: path)
    }

    func testTheWakersUserFramesAreNamedFromItsProcesssMaps() throws {
        let f = try mappedFunction()
        // Innermost first: the call's address (no return address), then a caller with no mapping.
        let stack: [UInt64] = [f.address, 0x7777_0000_1000]
        let data = try ContentionData(log: try log(ustack: stack, tgid: 4242, maps: "= 4242 prog\n" + f.maps), top: 10)
        let row = try XCTUnwrap(data.model.wakers?.first)
        XCTAssertEqual(row.waker, "do_rmdir+0x17b")
        XCTAssertEqual(row.wakerUserStack, "0x777700001000;" + f.name)
        XCTAssertEqual(row.wakerUserSite, f.name)
        XCTAssertEqual(try ContentionModel(entry: data.model.entry).wakers?.first?.wakerUserSite, f.name)
        let table = try XCTUnwrap(data.model.results.tables.first { $0.grouping == "waker" })
        XCTAssertEqual(table.rows.first?.labels, ["task", "do_rmdir+0x17b", f.name])
        XCTAssertEqual(
            data.model.wakerStacks?.folded.first?.stack, "0x777700001000;" + f.name + ";do_rmdir;up_write;task")
        // export's waker profile: kernel frames, then the user frames, named alike.
        let raw = try log(ustack: stack, tgid: 4242, maps: "= 4242 prog\n" + f.maps)
        let profiles = ContentionModule().stackProfiles(try ContentionData(log: raw, top: 10), log: raw)
        let waker = try XCTUnwrap(profiles.first { $0.name == "contention_waker" }?.profile.samples.first)
        XCTAssertEqual(waker.frames.map(\.function), ["up_write", "do_rmdir", f.name, "0x777700001000"])
        // The same addresses in another process (no maps of it) name nothing.
        let other = try ContentionData(log: try log(ustack: stack, tgid: 4243, maps: "= 4242 prog\n" + f.maps), top: 10)
        XCTAssertEqual(other.model.wakers?.first?.wakerUserStack, "0x777700001000;0x" + String(f.address, radix: 16))
        XCTAssertEqual(other.model.wakers?.first?.wakerUserSite, "")
    }

    func testALogWrittenBeforeTheWakersProcessIsReadAsItWas() throws {
        let data = try ContentionData(log: try log(ustack: [0x40_1000], tgid: 0, maps: nil, older: true), top: 10)
        let row = try XCTUnwrap(data.model.wakers?.first)
        XCTAssertEqual(data.undecodable, 0)
        XCTAssertEqual(row.waker, "do_rmdir+0x17b")
        XCTAssertEqual(row.contended, 4)
        XCTAssertEqual(row.total, 400)
        XCTAssertEqual(row.wakerUserStack, "0x401000")
    }
}
