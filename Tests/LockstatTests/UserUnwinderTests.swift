import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The DWARF user-stack unwinder (UserUnwinder, libdwfl) held against perf's own DWARF unwinding
/// of the same samples: `perf record --call-graph dwarf` keeps each sample's user registers and
/// a copy of its user stack; the unwinder gets the same bytes and must find perf's frames.
final class UserUnwinderTests: XCTestCase {
    /// A sample of perf.data with what unwinding needs: the registers, the stack copy and the
    /// executable mappings of its process at the sample's time.
    struct RecordedSample {
        var pid: UInt32
        var tid: UInt32
        var time: UInt64
        var registers: UserRegisters
        var stack: [UInt8]
        var mappings: [UserMapping]
    }

    /// perf.data as perf record writes it (tools/perf/util/header.h, struct perf_file_header:
    /// magic, header size, attr entry size, then the attrs, data and event_types sections as
    /// offset + size), one event: its records in the data section, replayed in time order.
    static func readPerfData(_ path: String) throws -> [RecordedSample] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try data.withUnsafeBytes { (b: UnsafeRawBufferPointer) -> [RecordedSample] in
            func u64(_ at: Int) -> UInt64 { b.loadUnaligned(fromByteOffset: at, as: UInt64.self) }
            func u32(_ at: Int) -> UInt32 { b.loadUnaligned(fromByteOffset: at, as: UInt32.self) }
            guard b.count >= 104, u64(0) == 0x3245_4c49_4652_4550 else {
                throw LockstatError("\(path): not a perf.data file (PERFILE2)")
            }
            let attrSize = Int(u64(16))
            let attrs = (Int(u64(24)), Int(u64(32)))
            let section = (Int(u64(40)), Int(u64(48)))
            guard attrs.1 == attrSize else {
                throw LockstatError("\(path): \(attrs.1 / max(attrSize, 1)) events; the test reads one")
            }
            // struct perf_event_attr: sample_type at 24, the flags word at 40 (sample_id_all is bit 18),
            // sample_regs_user at 80.
            let attr = attrs.0
            let format = PerfSample.Format(rawValue: u64(attr + 24))
            let sampleIDAll = u64(attr + 40) & (1 << 18) != 0
            let registerMask = u64(attr + 80)
            var maps: [UInt32: [UserMapping]] = [:]
            var buildIDs: [String: String] = [:]
            var samples: [RecordedSample] = []
            // The CPUs' buffers are written one after another: the records are replayed in time
            // order (perf script's ordered events), so a sample follows the mmap it runs in.
            var records: [(time: UInt64, at: Int, size: Int)] = []
            var at = section.0
            while at + 8 <= section.0 + section.1 {
                let type = u32(at)
                let size = Int(b.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self))
                guard size >= 8, at + size <= b.count else { throw LockstatError("\(path): a record at \(at) is torn") }
                let body = UnsafeRawBufferPointer(rebasing: b[(at + 8)..<(at + size)])
                if [3, 7, 9, 10].contains(type) {
                    let time =
                        type == 9
                        ? PerfSample(body, format: format, userRegisterMask: registerMask)?.time
                        : sampleIDAll ? PerfSample.trailer(body, format: format)?.sample.time : 0
                    records.append((time ?? 0, at, size))
                }
                at += size
            }
            records.sort { ($0.time, $0.at) < ($1.time, $1.at) }
            for (_, at, size) in records {
                let type = u32(at)
                let misc = b.loadUnaligned(fromByteOffset: at + 4, as: UInt16.self)
                let body = UnsafeRawBufferPointer(rebasing: b[(at + 8)..<(at + size)])
                // The record body less the sample_id_all trailer.
                let own = sampleIDAll ? (PerfSample.trailer(body, format: format)?.body ?? body.count) : body.count
                switch type {
                case 10:  // PERF_RECORD_MMAP2: pid, tid, addr, len, pgoff, 24 bytes of ids, prot, flags, filename
                    guard own > 64 else { continue }
                    let pid = body.loadUnaligned(as: UInt32.self)
                    let start = body.loadUnaligned(fromByteOffset: 8, as: UInt64.self)
                    let length = body.loadUnaligned(fromByteOffset: 16, as: UInt64.self)
                    let offset = body.loadUnaligned(fromByteOffset: 24, as: UInt64.self)
                    let prot = body.loadUnaligned(fromByteOffset: 56, as: UInt32.self)
                    let name = body[(body.startIndex + 64)..<(body.startIndex + own)]
                    let file = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
                    guard prot & UInt32(PROT_EXEC) != 0 else { continue }
                    if buildIDs[file] == nil { buildIDs[file] = UserMapping.buildID(ofFile: file) }
                    maps[pid, default: []].append(
                        UserMapping(
                            path: file, start: start, end: start + length, fileOffset: offset, buildID: buildIDs[file]!)
                    )
                case 3:  // PERF_RECORD_COMM; exec (PERF_RECORD_MISC_COMM_EXEC) starts a new address space
                    if misc & (1 << 13) != 0 { maps[body.loadUnaligned(as: UInt32.self)] = [] }
                case 7:  // PERF_RECORD_FORK: pid, ppid, tid, ptid; a new process copies its parent's mappings
                    let pid = body.loadUnaligned(as: UInt32.self)
                    let ppid = body.loadUnaligned(fromByteOffset: 4, as: UInt32.self)
                    if pid != ppid { maps[pid] = maps[ppid] ?? [] }
                case 9:  // PERF_RECORD_SAMPLE
                    guard let s = PerfSample(body, format: format, userRegisterMask: registerMask) else {
                        throw LockstatError("\(path): a sample at \(at) is shorter than its fields")
                    }
                    guard s.userRegistersABI != 0 else { continue }
                    samples.append(
                        RecordedSample(
                            pid: s.pid, tid: s.tid, time: s.time,
                            registers: UserRegisters(perfMask: registerMask, registers: s.userRegisters),
                            stack: Array(s.userStack), mappings: maps[s.pid] ?? []))
                default:
                    continue
                }
            }
            return samples
        }
    }

    /// `perf script`'s user call chains (its own libdwfl unwinding), by "tid time": each frame's
    /// address as perf prints it (the mapped file's offset; a return address less 1), inlined
    /// functions (perf lists each at its caller's address) counted once.
    static func perfCallchains(_ data: String) throws -> [String: [UInt64]] {
        let r = try shell(["perf", "script", "-i", data, "-F", "tid,time,ip", "--ns"])
        guard r.status == 0 else { throw LockstatError("perf script: \(r.err)") }
        var chains: [String: [UInt64]] = [:]
        var key: String?
        for line in r.out.split(separator: "\n") {
            let f = line.split(whereSeparator: \.isWhitespace)
            if let last = f.last, last.hasSuffix(":"), f.count >= 2 {
                key = "\(f[0]) \(last.dropLast())"
                chains[key!] = []
            } else if let key, let first = f.first, let address = UInt64(first, radix: 16) {
                if chains[key]!.last != address { chains[key]!.append(address) }
            }
        }
        return chains
    }

    /// Tests/unwind/contended.c at -O2, with `frames` (-fomit-frame-pointer or -fno-omit-frame-pointer).
    static func compile(_ dir: String, frames: String) throws -> String {
        let exe = dir + "/contended"
        let cc = try shell([
            "cc", "-O2", "-g", frames, "-pthread", "-o", exe,
            Fixtures.repository.path + "/Tests/unwind/contended.c",
        ])
        guard cc.status == 0 else { throw LockstatError("cc: \(cc.err)") }
        return exe
    }

    /// The futex waits of a contended mutex, reached from functions built without frame pointers
    /// through glibc (itself without them): for ≥ 95 % of perf's samples the unwinder finds
    /// perf's frames exactly, and the waits reach lock_and_work, worker, and start_thread or main.
    func testFutexWaitsUnwindAsPerfDoes() throws {
        try unwindAsPerf(frames: "-fomit-frame-pointer")
    }

    /// The same with the program built with frame pointers (its CFI then keeps the CFA in rbp).
    func testFramePointerBuildUnwindsAsPerfDoes() throws {
        try unwindAsPerf(frames: "-fno-omit-frame-pointer")
    }

    func unwindAsPerf(frames flag: String) throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: the syscalls tracepoints need root here") }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/perf") else {
            throw XCTSkip("SKIPPED: perf (linux-perf) is not installed")
        }
        let dir = temporaryDirectory()
        let exe = try Self.compile(dir, frames: flag)
        let data = dir + "/perf.data"
        let record = try shell([
            "perf", "record", "-q", "--call-graph", "dwarf,4096", "-e", "syscalls:sys_enter_futex", "-o", data,
            "--", exe, "1", "3",
        ])
        XCTAssertEqual(record.status, 0, record.err)
        let samples = try Self.readPerfData(data)
        let perfStart = ls_monotonic_ns()
        let perf = try Self.perfCallchains(data)
        let perfSeconds = Double(ls_monotonic_ns() - perfStart) / 1e9
        XCTAssertGreaterThan(samples.count, 60, "futex calls of 4 threads on one mutex for 1 s (300 to 18,000 seen here)")

        let image = try XCTUnwrap(ElfImage(path: exe))
        var libc: ElfImage?
        func symbol(_ pc: UInt64, returnAddress: Bool, in mappings: [UserMapping]) -> String {
            guard let m = mappings.last(where: { pc >= $0.start && pc < $0.end }) else { return "?" }
            let offset = pc - m.start + m.fileOffset - (returnAddress ? 1 : 0)
            var elf: ElfImage?
            if m.path == exe {
                elf = image
            } else if m.path.contains("/libc.so") {
                if libc == nil {
                    libc = ElfImage(path: m.path)
                    libc?.addDebugSymbols()
                }
                elf = libc
            }
            return elf.flatMap { e in e.address(ofFileOffset: offset).flatMap { e.symbol(at: $0)?.name } } ?? "?"
        }

        let unwinder = UserUnwinder()
        var same = 0
        var compared = 0
        var waits = 0
        var reachingCaller = 0
        var throughLibc = 0
        var reachingMain = 0
        var differing: [String] = []
        var elapsed = UInt64.max
        var opening: UInt64 = 0
        for (i, s) in samples.enumerated() {
            let key = "\(s.tid) \(s.time / 1_000_000_000).\(String(format: "%09llu", s.time % 1_000_000_000))"
            let start = ls_thread_cpu_ns()
            let stack = s.stack.withUnsafeBytes {
                unwinder.unwind(mappings: s.mappings, registers: s.registers, stack: $0)
            }
            if i == 0 { opening = ls_thread_cpu_ns() - start }
            let ours = zip(stack.pcs, stack.returnAddress).map { pc, ret -> UInt64 in
                guard let m = s.mappings.last(where: { pc >= $0.start && pc < $0.end }) else { return pc }
                return pc - m.start + m.fileOffset - (ret ? 1 : 0)
            }
            let names = zip(stack.pcs, stack.returnAddress).map { symbol($0, returnAddress: $1, in: s.mappings) }
            if let theirs = perf[key] {
                compared += 1
                if theirs == ours {
                    same += 1
                } else if differing.count < 5 {
                    differing.append(
                        "\(key): perf \(theirs.map { String($0, radix: 16) }), ours \(ours.map { String($0, radix: 16) }) \(names) (\(stack.stopReason ?? "whole"))"
                    )
                }
            }
            // A wait for the mutex: the futex call under __lll_lock_wait (the unlock's wake is the other kind).
            if names.first == "__lll_lock_wait" || names.first == "__GI___lll_lock_wait" {
                waits += 1
                if let caller = names.firstIndex(of: "lock_and_work"), names[caller...].contains("worker"),
                    names.contains("start_thread") || names.contains("main")
                {
                    reachingCaller += 1
                    if caller >= 2 { throughLibc += 1 }
                    if names[caller...].contains("main") { reachingMain += 1 }
                }
            }
        }
        let share = Double(same) / Double(max(compared, 1))
        // The cost on a shared machine: the thread's CPU time, the least of three more passes.
        for _ in 0..<3 {
            let start = ls_thread_cpu_ns()
            for s in samples {
                _ = s.stack.withUnsafeBytes { unwinder.unwind(mappings: s.mappings, registers: s.registers, stack: $0) }
            }
            elapsed = min(elapsed, ls_thread_cpu_ns() - start)
        }
        let perUnwind = Double(elapsed) / Double(max(samples.count, 1)) / 1000
        // How much of the 4 KiB copy the whole stack needs: the least of these sizes unwinding alike.
        var needed: [Int: Int] = [:]
        var frames = 0
        for s in samples {
            let whole = s.stack.withUnsafeBytes {
                unwinder.unwind(mappings: s.mappings, registers: s.registers, stack: $0)
            }
            frames += whole.pcs.count
            let size = [256, 512, 1024, 2048, 4096].first { size in
                s.stack.prefix(size).withUnsafeBytes {
                    unwinder.unwind(mappings: s.mappings, registers: s.registers, stack: UnsafeRawBufferPointer($0))
                } == whole
            }
            needed[size ?? 4096, default: 0] += 1
        }
        print(
            "stack bytes the whole stack needs (size: samples): \(needed.sorted { $0.key < $1.key }); "
                + "\(Double(frames) / Double(max(samples.count, 1))) frames per stack")
        print(
            "unwound \(samples.count) samples: \(same) of \(compared) as perf (\(share * 100) %); \(reachingCaller) of "
                + "\(waits) mutex waits reach lock_and_work and its callers; left out: \(unwinder.leftOut)")
        print(
            "cost: \(perUnwind) µs of CPU per unwind (the least of 3 passes); the first opened the files in \(Double(opening) / 1000) µs; "
                + "perf script (its start, DWARF unwinding and symbols) took \(perfSeconds) s")
        XCTAssertEqual(compared, samples.count, "perf script shows every sample read from perf.data")
        XCTAssertGreaterThanOrEqual(share, 0.95, differing.joined(separator: "\n"))
        XCTAssertGreaterThan(waits, 25)
        XCTAssertGreaterThanOrEqual(Double(reachingCaller), Double(waits) * 0.95)
        XCTAssertGreaterThan(reachingMain, 0, "main's own waits reach main through libc's frames")
        XCTAssertEqual(throughLibc, reachingCaller, "libc's frames lie between the futex call and lock_and_work")
        XCTAssertTrue(unwinder.leftOut.isEmpty, "\(unwinder.leftOut)")
    }
}
