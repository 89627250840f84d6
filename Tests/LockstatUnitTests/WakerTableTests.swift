import CLockstat
import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.wakers read back from a bpf-mode raw log made here: the waker entries as last
/// drained, their classes, the releasing call site past the wake-up machinery, spinlock waits as
/// "no waker (spinning)", and the samples entry read back.
final class WakerTableTests: XCTestCase {
    static let kallsyms = """
        ffffffff81000000 T bpf_trace_run1
        ffffffff81001000 T try_to_wake_up
        ffffffff81002000 T wake_up_q
        ffffffff81003000 T rwsem_wake
        ffffffff81004000 T up_write
        ffffffff81005000 T do_rmdir
        ffffffff81006000 T __x64_sys_rmdir
        ffffffff81007000 T rwsem_down_write_slowpath
        ffffffff81008000 T down_write
        ffffffff81009000 T filename_create
        ffffffff8100a000 T do_mkdirat
        ffffffff8100b000 T update_inode
        ffffffff8100c000 T do_exit

        """
    static let lock: UInt64 = 0xffff_8880_0000_1000, spinlock: UInt64 = 0xffff_8880_0000_2000

    /// A raw log as bpf mode writes it: layout, kallsyms, stacks, two drains of waits and wakers,
    /// counters; `wakers`: whether the layout says they were recorded.
    /// `counters`: how many counters the writing lockstat had (older ones had fewer).
    func log(wakers: Bool, recursionMissed: UInt64 = 0, counters counterCount: Int = Int(LS_BPF_COUNTERS.rawValue)) throws -> RawLog {
        let path = temporaryDirectory() + "/contention.log"
        let writer = try RawLogWriter(path: path)
        let start: UInt64 = 1_000_000_000
        writer.append(
            kind: .header, tick: 0, time: start, text: "module contention\ninterval_ns 500000000\nstart_ns \(start)\n")
        writer.append(
            kind: .side, stream: ContentionModule.layoutStream, tick: 0, time: 0,
            text: "mode bpf\ncpus 2\n" + (wakers ? "wakers yes\ninterrupt_wakes yes\nwaker_key tgid\n" : ""))
        Array(Self.kallsyms.utf8).withUnsafeBytes {
            writer.append(kind: .snapshot, stream: ContentionModule.kallsymsStream, tick: 0, time: 0, payload: $0)
        }
        func stack(_ id: Int32, _ frames: [UInt64], user: Bool = false) {
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
        // The waiter: rwsem slow path ← down_write ← (a frame) ← filename_create ← do_mkdirat.
        stack(
            1,
            [0xffff_ffff_8100_7010, 0xffff_ffff_8100_8010, 0xffff_ffff_8100_b010, 0xffff_ffff_8100_9010,
             0xffff_ffff_8100_a010])
        // The waker, as sched_waking's program sees it: from the BPF frame to the system call.
        stack(2, [0xffff_ffff_8100_0010, 0xffff_ffff_8100_1010, 0xffff_ffff_8100_2010, 0xffff_ffff_8100_3010,
                  0xffff_ffff_8100_4010, 0xffff_ffff_8100_517b, 0xffff_ffff_8100_6010])
        stack(3, [0x40_1000, 0x40_2000], user: true)
        // A signal's sender, whose stack is kept but is no release.
        stack(4, [0xffff_ffff_8100_1010, 0xffff_ffff_8100_c010])
        func waits(_ count: UInt64) -> [UInt8] {
            var rwsem = ls_bpf_entry(), spin = ls_bpf_entry()
            rwsem.key.lock = Self.lock
            rwsem.key.stack_id = 1
            rwsem.key.tid = 7
            rwsem.value.count = count
            rwsem.value.total_ns = count * 100
            rwsem.value.flags = 4
            spin.key.lock = Self.spinlock
            spin.key.stack_id = 1
            spin.key.tid = 7
            spin.value.count = 3
            spin.value.total_ns = 30
            spin.value.flags = 1
            return withUnsafeBytes(of: rwsem) { Array($0) } + withUnsafeBytes(of: spin) { Array($0) }
        }
        func waker(_ stack: Int32, _ user: Int32, _ wakeClass: ls_bpf_wake_class, count: UInt64) -> [UInt8] {
            var e = ls_bpf_waker_entry()
            e.key.lock = Self.lock
            e.key.stack_id = 1
            e.key.waker_stack = stack
            e.key.waker_ustack = user
            e.key.wake_class = wakeClass.rawValue
            e.value.count = count
            e.value.total_ns = count * 100
            e.value.slept = count - 1
            e.value.slept_ns = (count - 1) * 100
            e.value.wakes = count + 2
            e.value.failed = wakeClass == LS_WAKE_SIGNAL ? count : 0
            return withUnsafeBytes(of: e) { Array($0) }
        }
        for (tick, count) in [(1, UInt64(5)), (2, UInt64(10))] {
            let time = start + UInt64(tick) * 500_000_000
            waits(count + 3).withUnsafeBytes {
                writer.append(
                    kind: .snapshot, stream: BPFContentionRecorder.waitsStream, tick: UInt64(tick), time: time,
                    payload: $0)
            }
            guard wakers else { continue }
            // The second drain holds only the entry that changed, as the recorder writes them.
            let entries =
                tick == 1
                ? waker(2, 3, LS_WAKE_TASK, count: count) + waker(4, -1, LS_WAKE_SIGNAL, count: 2)
                    + waker(-1, -1, LS_WAKE_HARDIRQ, count: 1)
                : waker(2, 3, LS_WAKE_TASK, count: count)
            entries.withUnsafeBytes {
                writer.append(
                    kind: .snapshot, stream: BPFContentionRecorder.wakersStream, tick: UInt64(tick), time: time,
                    payload: $0)
            }
            // The handover and hold maps, whole at each drain: the last one counts.
            var handover = ls_bpf_handover_entry()
            handover.lock = Self.lock
            handover.value.nwait = 2
            handover.value.episodes = UInt64(tick)
            handover.value.contended_ns = count * 1000
            handover.value.holds = count
            handover.value.hold_ns = count * 600
            handover.value.gap_ns = count * 300
            handover.value.untracked_ns = count * 100
            handover.value.untracked_releases = 1
            withUnsafeBytes(of: handover) {
                writer.append(
                    kind: .snapshot, stream: BPFContentionRecorder.handoversStream, tick: UInt64(tick), time: time,
                    payload: $0)
            }
            var hold = ls_bpf_hold_entry()
            hold.key.lock = Self.lock
            hold.key.stack_id = 1
            hold.value.count = count
            hold.value.total_ns = count * 600
            hold.value.max_ns = 2000
            withUnsafeMutableBytes(of: &hold.value.buckets) { b in
                let buckets = b.bindMemory(to: UInt32.self)
                buckets[9] = UInt32(count - 1)   // [512, 1024) ns
                buckets[10] = 1   // [1024, 2048) ns
            }
            withUnsafeBytes(of: hold) {
                writer.append(
                    kind: .snapshot, stream: BPFContentionRecorder.holdsStream, tick: UInt64(tick), time: time,
                    payload: $0)
            }
            // The owner at begin: inside do_rmdir (innermost first, then zeros).
            var owner = ls_bpf_owner_stack_entry()
            owner.key.lock = Self.lock
            owner.key.ips.0 = 0xffff_ffff_8100_517b
            owner.key.ips.1 = 0xffff_ffff_8100_6010
            owner.count = count
            withUnsafeBytes(of: owner) {
                writer.append(
                    kind: .snapshot, stream: BPFContentionRecorder.ownerStacksStream, tick: UInt64(tick), time: time,
                    payload: $0)
            }
        }
        // The counters, then the programs' run time and runs.
        var counters = [UInt64](repeating: 0, count: counterCount + 2)
        counters[Int(LS_BPF_WAITER_WAKES.rawValue)] = 17
        counters[Int(LS_BPF_WAKER_STACKS_REUSED.rawValue)] = 9
        counters[Int(LS_BPF_RECURSION_MISSED.rawValue)] = recursionMissed
        if counterCount > Int(LS_BPF_PATH_HITS.rawValue) { counters[Int(LS_BPF_PATH_HITS.rawValue)] = 40 }
        counters[counterCount] = 123_000
        counters.withUnsafeBytes {
            writer.append(
                kind: .snapshot, stream: BPFContentionRecorder.countersStream, tick: 2, time: start, payload: $0)
        }
        return try RawLog.read(path: path)
    }

    /// Lock events the kernel ran no lockstat program for (another BPF program on the CPU) are in
    /// the cost and said in a warning, never silent; a run without them says nothing.
    func testEventsTheKernelSkippedAreCountedAndSaid() throws {
        let module = ContentionModule(), config = Config(modules: ["contention"])
        let missed = try module.parse(try log(wakers: true, recursionMissed: 5), config: config)
        XCTAssertEqual(missed.data["cost"]?["recursion_missed"]?.number, 5)
        XCTAssertTrue(missed.warnings.contains { $0.hasPrefix("5 lock events not seen") }, "\(missed.warnings)")
        let none = try module.parse(try log(wakers: true), config: config)
        XCTAssertEqual(none.data["cost"]?["recursion_missed"]?.number, 0)
        XCTAssertFalse(none.warnings.contains { $0.contains("not seen") }, "\(none.warnings)")
    }

    /// A log written before the call-path counters (15 of them) still reads: its counters and its
    /// BPF time where they were, the new ones 0.
    func testALogWithFewerCountersReadsAsItWasWritten() throws {
        let now = try ContentionData(log: try log(wakers: true, recursionMissed: 3), top: 10)
        XCTAssertEqual(now.cost.value("path_hits"), 40)
        XCTAssertEqual(now.cost.value("bpf_ns"), 123_000)
        let older = try ContentionData(log: try log(wakers: true, recursionMissed: 3, counters: 15), top: 10)
        XCTAssertEqual(older.cost.value("path_hits"), 0)
        XCTAssertEqual(older.cost.value("path_conflicts"), 0)
        XCTAssertEqual(older.cost.value("recursion_missed"), 3)
        XCTAssertEqual(older.cost.value("waker_stacks_reused"), 9)
        XCTAssertEqual(older.cost.value("bpf_ns"), 123_000)
    }

    func testWakerRowsFromTheLastDrainClassedAndPlacedAtTheRelease() throws {
        let data = try ContentionData(log: try log(wakers: true), top: 10)
        let rows = try XCTUnwrap(data.model.wakers)
        func line(_ w: ContentionModel.Waker) -> String {
            "\(w.wakeClass) | \(w.waker) | \(w.caller) | \(w.contended) | \(w.total)"
        }
        let text = rows.map(line)
        XCTAssertEqual(
            text,
            [
                "task | do_rmdir+0x17b | filename_create+0x10 | 10 | 1000",
                "signal | no waker (signal) | filename_create+0x10 | 2 | 200",
                "hardirq | no waker (hardirq) | filename_create+0x10 | 1 | 100",
                "spinning | no waker (spinning) | filename_create+0x10 | 3 | 30",
            ])
        let release = rows[0]
        XCTAssertEqual(release.wakerStack, "__x64_sys_rmdir;do_rmdir;up_write;rwsem_wake;wake_up_q;try_to_wake_up")
        XCTAssertEqual(release.wakerUserStack, "0x402000;0x401000")
        XCTAssertEqual(release.sleptTotal, 900)
        XCTAssertEqual(release.wakes, 12)
        XCTAssertEqual(rows[1].failed, 2)
        XCTAssertEqual(data.cost.value("waiter_wakes"), 17)
        XCTAssertEqual(data.cost.value("waker_stacks_reused"), 9)
        // The entry read back, and `report --by waker`'s table.
        let back = try XCTUnwrap(try ContentionModel(entry: data.model.entry).wakers)
        XCTAssertEqual(back.map(line), text)
        XCTAssertEqual(back.map(\.wakerStack), rows.map(\.wakerStack))
        let table = try XCTUnwrap(data.model.results.tables.first { $0.grouping == "waker" })
        XCTAssertEqual(table.rows.first?.labels, ["task", "do_rmdir+0x17b", ""])
        XCTAssertEqual(table.rows.first?.values, [10, 1000, 900, 100])
    }

    /// The summary's top waker of a lock: the task or kernel-thread site that ended most of its
    /// wait, with its share of all the lock's wait (signals, interrupts and spinning included).
    func testTopWakerSiteOfALock() throws {
        let model = try ContentionData(log: try log(wakers: true), top: 10).model
        let lock = try XCTUnwrap(model.wakers?.first?.lock)
        let top = try XCTUnwrap(model.topWakerSite(lock: lock))
        XCTAssertEqual(top.site, "do_rmdir+0x17b")
        XCTAssertEqual(top.wakeClass, "task")
        XCTAssertEqual(top.total, 1000)
        XCTAssertEqual(top.share, 1000.0 / 1300.0, accuracy: 1e-9)
        // The spinlock has rows, but nobody woke its waiters; a lock without rows has none.
        let spinlock = try XCTUnwrap(model.wakers?.first { $0.wakeClass == "spinning" }?.lock)
        XCTAssertNil(model.topWakerSite(lock: spinlock))
        XCTAssertNil(model.topWakerSite(lock: "no such lock"))
        XCTAssertNil(try ContentionData(log: try log(wakers: false), top: 10).model.topWakerSite(lock: lock))
        // A caller's: its waits on every lock, the spinlock's among them.
        let caller = try XCTUnwrap(model.topWakerSite(caller: "filename_create+0x10"))
        XCTAssertEqual(caller.site, "do_rmdir+0x17b")
        XCTAssertEqual(caller.share, 1000.0 / 1330.0, accuracy: 1e-9)
        XCTAssertEqual(model.topWakerSite(lock: lock, caller: "filename_create+0x10"), top)
        XCTAssertNil(model.topWakerSite(caller: "no such caller"))
    }

    /// Each caller's longest-waited lock, for the summary's owner: the rwsem (1300 ns) over the
    /// spinlock (30 ns) of the same caller; the model keeps it only where owners were recorded.
    func testEachCallersLongestWaitedLock() throws {
        let data = try ContentionData(log: try log(wakers: false), top: 10)
        XCTAssertEqual(
            data.callerLocks,
            [
                ContentionModel.CallerLock(
                    caller: "filename_create+0x10", lock: String(Self.lock, radix: 16), total: 1300)
            ])
        XCTAssertNil(data.model.callerLocks, "this log has no owners")
    }

    /// Hold under contention and the lock's handover split, from the last copy of each map; the
    /// entry reads back; `report --by hold`'s table.
    func testHoldsUnderContentionFromTheLastDrain() throws {
        let model = try ContentionData(log: try log(wakers: true), top: 10).model
        let holds = try XCTUnwrap(model.holds)
        XCTAssertEqual(holds.count, 1)
        let hold = holds[0]
        XCTAssertEqual(hold.caller, "filename_create+0x10")
        XCTAssertEqual(hold.type, "rwsem:W")
        XCTAssertEqual([hold.count, Int(hold.total), Int(hold.max)], [10, 6000, 2000])
        XCTAssertEqual(hold.histogram.map(\.lowerNanoseconds), [512, 1024])
        XCTAssertEqual(hold.histogram.map(\.count), [9, 1])
        XCTAssertEqual(
            model.handovers,
            [
                ContentionModel.Handover(
                    lock: hold.lock, contended: 10000, episodes: 2, holds: 10, held: 6000, gaps: 3000, untracked: 1000,
                    untrackedReleases: 1)
            ])
        let back = try ContentionModel(entry: model.entry)
        XCTAssertEqual(back.handovers, model.handovers)
        XCTAssertEqual(back.holds?.map(\.caller), ["filename_create+0x10"])
        XCTAssertEqual(back.holds?.first?.histogram.map(\.count), [9, 1])
        let table = try XCTUnwrap(model.results.tables.first { $0.grouping == "hold" })
        XCTAssertEqual(table.rows.first?.labels, [hold.lock, "filename_create+0x10"])
        XCTAssertEqual(table.rows.first?.values, [10, 6000, 2000, 600])
        XCTAssertTrue(table.metrics.contains { $0.title.contains("hold under contention") })
        // Without wakers there are neither.
        let without = try ContentionData(log: try log(wakers: false), top: 10).model
        XCTAssertNil(without.holds)
        XCTAssertNil(without.entry["holds_under_contention"])
        XCTAssertNil(without.entry["handover"])
    }

    /// The page's second flame graph (wait by the waker's user then kernel stack) and export's second pprof
    /// profile (the same waits by waker stack, kernel then user frames); neither without wakers.
    func testWokenWaitStacksAndTheWakerProfile() throws {
        let raw = try log(wakers: true)
        let data = try ContentionData(log: raw, top: 10)
        let stacks = data.model.results.stacks
        XCTAssertEqual(stacks.map(\.name), ["wait", "woken-wait", "owner-at-begin"])
        XCTAssertEqual(stacks[2].folded.map(\.stack), ["__x64_sys_rmdir;do_rmdir"])
        XCTAssertEqual(stacks[2].folded.map(\.weight), [10])
        XCTAssertEqual(
            data.model.ownerStacks, [ContentionModel.OwnerStack(lock: data.model.ownerStacks?.first?.lock ?? "?",
                                                                ownerStack: "__x64_sys_rmdir;do_rmdir", contended: 10)])
        XCTAssertEqual(try ContentionModel(entry: data.model.entry).ownerStacks, data.model.ownerStacks)
        XCTAssertEqual(
            stacks[1].folded.map(\.stack),
            [
                "0x402000;0x401000;__x64_sys_rmdir;do_rmdir;up_write;rwsem_wake;wake_up_q;try_to_wake_up;task",
                "do_exit;try_to_wake_up;signal",
            ])
        XCTAssertEqual(stacks[1].folded.map(\.weight), [1000, 200])
        let profiles = ContentionModule().stackProfiles(data, log: raw)
        XCTAssertEqual(profiles.map(\.name), ["contention", "contention_waker"])
        let samples = profiles[1].profile.samples
        XCTAssertEqual(samples.count, 2, "the hardirq wake has no stack")
        let task = try XCTUnwrap(samples.first { $0.labels.contains { $0.key == "class" && $0.value == "task" } })
        XCTAssertEqual(
            task.frames.map(\.function),
            [
                "try_to_wake_up", "wake_up_q", "rwsem_wake", "up_write", "do_rmdir", "__x64_sys_rmdir", "0x401000",
                "0x402000",
            ])
        XCTAssertEqual(task.values, [10, 1000])
        XCTAssertTrue(task.labels.contains { $0.key == "waiter_caller" && $0.value == "filename_create+0x10" })
        let without = try log(wakers: false)
        let plain = try ContentionData(log: without, top: 10)
        XCTAssertEqual(plain.model.results.stacks.map(\.name), ["wait"])
        XCTAssertEqual(ContentionModule().stackProfiles(plain, log: without).map(\.name), ["contention"])
    }

    /// A log without wakers (contention.wakers no, or written before them) has no waker key or
    /// table, and its counters record of the older size still reads.
    func testWithoutWakersNothingOfThemAppears() throws {
        let data = try ContentionData(log: try log(wakers: false), top: 10)
        XCTAssertNil(data.model.wakers)
        XCTAssertNil(data.model.entry["wakers"])
        XCTAssertNil(data.cost.value("waiter_wakes"))
        XCTAssertFalse(data.model.results.tables.contains { $0.grouping == "waker" })
        XCTAssertEqual(data.cost.value("contentions"), 16)
    }

    /// The releasing call site is the first frame past the wake-up and unlock functions; a
    /// function whose name merely begins like one ("up" of the semaphore) is not skipped.
    func testTheSiteSkipsOnlyTheWakeMachinery() {
        let symbols = KernelSymbols(Self.kallsyms)
        XCTAssertEqual(
            ContentionWakers.site(
                [0xffff_ffff_8100_1010, 0xffff_ffff_8100_4010, 0xffff_ffff_8100_517b], symbols: symbols),
            "do_rmdir+0x17b")
        XCTAssertEqual(
            ContentionWakers.site([0xffff_ffff_8100_1010, 0xffff_ffff_8100_b010], symbols: symbols),
            "update_inode+0x10")
    }
}
