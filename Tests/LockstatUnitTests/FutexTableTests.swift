import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// A global of this test binary: its address must be named by its data symbol.
nonisolated(unsafe) var futexTableTestsLockWord: UInt32 = 7

/// The futex module's decoding and tables, from raw logs written here (no kernel needed).
final class FutexTableTests: XCTestCase {
    func testKindsFromTheInnermostSynchronisationFrame() {
        XCTAssertEqual(
            FutexKind.classify(["__GI___lll_lock_wait", "pthread_mutex_lock@@GLIBC_2.2.5", "worker"]), .mutex)
        XCTAssertEqual(
            FutexKind.classify(["__futex_abstimed_wait_common", "pthread_cond_wait@@GLIBC_2.3.2", "wait_for_signal"]),
            .condvar)
        // A condition variable's wait that sleeps again on its mutex is a mutex wait.
        XCTAssertEqual(
            FutexKind.classify(["__GI___lll_lock_wait", "__pthread_mutex_cond_lock", "pthread_cond_wait@@GLIBC_2.3.2"]),
            .mutex)
        XCTAssertEqual(FutexKind.classify(["__futex_abstimed_wait_common", "pthread_rwlock_rdlock"]), .rwlock)
        XCTAssertEqual(FutexKind.classify(["__new_sem_wait_slow64", "sem_wait"]), .semaphore)
        XCTAssertEqual(FutexKind.classify(["pthread_barrier_wait"]), .barrier)
        XCTAssertEqual(FutexKind.classify(["__pthread_clockjoin_ex", "main"]), .other)
        XCTAssertFalse(FutexKind.condvar.isContention)
        XCTAssertTrue(FutexKind.mutex.isContention)
    }

    /// The frame-pointer walk loses glibc's callers; the scanned return addresses go after the leaf.
    func testScannedCallersGoAfterTheLeafOnce() {
        func f(_ s: String, _ image: String = "prog") -> Symbolizer.Frame {
            .init(symbol: s, image: image, kind: .program)
        }
        let merged = FutexAnalysis.merged(
            fp: [f("__lll_lock_wait", "libc.so.6"), f("worker"), f("start_thread", "libc.so.6")],
            scanned: [f("pthread_mutex_lock", "libc.so.6"), f("lock_heavy"), f("worker")])
        XCTAssertEqual(
            merged.map(\.symbol), ["__lll_lock_wait", "pthread_mutex_lock", "lock_heavy", "worker", "start_thread"])
        XCTAssertEqual(FutexAnalysis.site(merged), "lock_heavy")
        XCTAssertEqual(FutexAnalysis.site([]), "[no stack]")
        // The tracing machinery above a syscall tracepoint's kernel stack is not the call's.
        XCTAssertTrue(
            ["bpf_prog_1234_futex_enter", "perf_syscall_enter", "syscall_trace_enter"].allSatisfy(
                FutexAnalysis.isTracingFrame))
        XCTAssertFalse(FutexAnalysis.isTracingFrame("do_syscall_64"))
    }

    func entry(
        uaddr: UInt64, tid: UInt32, outcome: ls_futex_outcome, op: ls_futex_op = LS_FUTEX_OP_WAIT, waker: UInt32 = 0,
        count: UInt64, total: UInt64, owner: UInt32 = 0
    ) -> ls_futex_entry {
        var e = ls_futex_entry()
        e.key.uaddr = uaddr
        e.key.tgid = 42
        e.key.tid = tid
        e.key.user_stack = -1
        e.key.kernel_stack = -1
        e.key.waker_user_stack = -1
        e.key.waker_kernel_stack = -1
        e.key.waker_tid = waker
        e.key.waker_tgid = waker == 0 ? 0 : 42
        e.key.outcome = outcome.rawValue
        e.key.op = op.rawValue
        e.value.count = count
        e.value.total_ns = total
        e.value.max_ns = total / max(count, 1) * 2
        e.value.min_ns = 1
        e.value.owner_tid = owner
        return e
    }

    func log(_ readings: [[ls_futex_entry]], side: [(UInt16, String)], comms: [(UInt32, String)]) throws -> RawLog {
        let path = temporaryDirectory() + "/futex.log"
        let writer = try RawLogWriter(path: path)
        writer.append(kind: .header, tick: 0, time: 1, text: "module futex\ninterval_ns 500000000\nstart_ns 1\n")
        for (stream, text) in side { writer.append(kind: .side, stream: stream, tick: 0, time: 0, text: text) }
        for (tid, name) in comms {
            var record = [UInt8](repeating: 0, count: 4 + Int(LS_FUTEX_COMM))
            withUnsafeBytes(of: tid) { record.replaceSubrange(0..<4, with: $0) }
            record.replaceSubrange(4..<(4 + name.utf8.count), with: Array(name.utf8))
            record.withUnsafeBytes {
                writer.append(kind: .side, stream: FutexRecorder.commsStream, tick: 0, time: 0, payload: $0)
            }
        }
        for (i, entries) in readings.enumerated() {
            entries.withUnsafeBytes {
                writer.append(
                    kind: .snapshot, stream: FutexRecorder.waitsStream, tick: UInt64(i + 1), time: UInt64(i + 2),
                    payload: $0)
            }
        }
        return try RawLog.read(path: path)
    }

    /// Each entry's last reading counts; a call that did not sleep is counted apart and not
    /// timed; only a woken wait has a waker; an owner is shown for a PI lock; lock words are
    /// named by their mapping and offset when no symbol holds them.
    func testEntriesDecodeIntoTheTables() throws {
        let heap: UInt64 = 0x5600_0000_0000
        let maps = "= 42 prog\n560000000000-560000021000 rw-p 00000000 00:00 0 [heap]\n"
        let first = [entry(uaddr: heap + 0x10, tid: 43, outcome: LS_FUTEX_WOKEN, count: 4, total: 1_000)]
        let second = [
            entry(
                uaddr: heap + 0x10, tid: 43, outcome: LS_FUTEX_WOKEN, op: LS_FUTEX_OP_LOCK_PI, waker: 44, count: 10,
                total: 5_000_000, owner: 44),
            entry(uaddr: heap + 0x10, tid: 43, outcome: LS_FUTEX_NO_SLEEP, count: 3, total: 900),
            entry(uaddr: 0x1234, tid: 44, outcome: LS_FUTEX_TIMED_OUT, count: 2, total: 4_000_000),
        ]
        // The first reading's entry is another key (no waker, not PI): it stays as read.
        let analysis = try FutexAnalysis(
            log: log(
                [first, second], side: [(FutexRecorder.mapsStream, maps)], comms: [(43, "waiter"), (44, "holder")]))
        XCTAssertEqual(analysis.waits.count, 4)
        let model = FutexModel(analysis)
        let heapRow = try XCTUnwrap(model.locks.first { $0.key == "[heap]+0x10" }, "\(model.locks)")
        XCTAssertEqual(heapRow.waits, 14)
        XCTAssertEqual(heapRow.total, 5_001_000)
        XCTAssertEqual(heapRow.noSleep, 3)
        let unmapped = try XCTUnwrap(model.locks.first { $0.key == "0x1234" })
        XCTAssertEqual(unmapped.waits, 2)
        XCTAssertEqual(unmapped.timeouts, 2)
        XCTAssertEqual(Set(model.tasks.map(\.key)), ["waiter[43]", "holder[44]"])
        XCTAssertEqual(model.wakers.first { $0.key == FutexAnalysis.noWaker }?.waits, 6, "\(model.wakers)")
        XCTAssertEqual(model.owners.map(\.owner), ["holder[44]"])
        XCTAssertEqual(model.owners.first?.waits, 10)
        XCTAssertEqual(model.locks.first?.key, "[heap]+0x10", "ranked by wait")
    }

    /// A condition variable's waits are listed with their wait but ranked after any contention.
    func testCondvarWaitsRankAfterContention() throws {
        let entries = [
            entry(uaddr: 0x10, tid: 43, outcome: LS_FUTEX_WOKEN, count: 1, total: 9_000_000),
            entry(uaddr: 0x20, tid: 43, outcome: LS_FUTEX_WOKEN, count: 1, total: 1_000),
        ]
        var analysis = try FutexAnalysis(log: log([entries], side: [], comms: []))
        for i in analysis.waits.indices {
            analysis.waits[i].kind = analysis.waits[i].wait.uaddr == 0x10 ? .condvar : .mutex
        }
        let model = FutexModel(analysis)
        XCTAssertEqual(model.locks.map(\.key), ["0x20", "0x10"])
        XCTAssertEqual(model.locks.map(\.contention), [1_000, 0])
        XCTAssertEqual(model.locks.map(\.total), [1_000, 9_000_000])
    }

    /// The end-of-run summary ranks lock words by contention wait with their share of it and
    /// leaves condition variables out; a run whose only waits are on events says so.
    func testSummaryRanksContentionAndLeavesEventWaitsOut() throws {
        let entries = [
            entry(uaddr: 0x10, tid: 43, outcome: LS_FUTEX_WOKEN, count: 1, total: 9_000_000),
            entry(uaddr: 0x20, tid: 43, outcome: LS_FUTEX_WOKEN, waker: 44, count: 3, total: 3_000_000),
            entry(uaddr: 0x30, tid: 44, outcome: LS_FUTEX_WOKEN, count: 2, total: 1_000_000),
        ]
        var analysis = try FutexAnalysis(log: log([entries], side: [], comms: []))
        for i in analysis.waits.indices {
            analysis.waits[i].kind = analysis.waits[i].wait.uaddr == 0x10 ? .condvar : .mutex
        }
        let model = FutexModel(analysis)
        let releaser = try XCTUnwrap(model.wakers.first { $0.key != FutexAnalysis.noWaker }?.key, "\(model.wakers)")
        XCTAssertEqual(try FutexModel(entry: model.entry).locks.map(\.releasedBy), [releaser, "-", "-"], "read back")
        let lines = try XCTUnwrap(model.summary(width: 78)?.lines)
        XCTAssertEqual(lines.count, 4, "\(lines)")
        XCTAssertTrue(lines[0].hasPrefix("most contended user-space locks (futex, by lock word; 2 in "), lines[0])
        XCTAssertEqual(
            lines[1].split(separator: " "), ["waits", "contention", "wait", "share", "kind", "lock", "released", "by"])
        XCTAssertEqual(lines[2].split(separator: " "), ["3", "3.00", "ms", "75.0", "%", "mutex", "0x20"] + releaser.split(separator: " "))
        XCTAssertEqual(lines[3].split(separator: " "), ["2", "1.00", "ms", "25.0", "%", "mutex", "0x30", "-"])
        XCTAssertTrue(lines.allSatisfy { $0.count <= 78 }, "\(lines)")

        for i in analysis.waits.indices { analysis.waits[i].kind = .condvar }
        XCTAssertEqual(
            FutexModel(analysis).summary(width: 78)?.lines,
            ["futex: no user-space lock was contended in the run (6 futex waits slept, none on a lock)"])
    }

    /// samples.pickle's entry reads back as the model; a row without a key is an error naming it.
    func testEntryReadsBackAndMissingKeysAreNamed() throws {
        let entries = [entry(uaddr: 0x10, tid: 43, outcome: LS_FUTEX_WOKEN, waker: 44, count: 3, total: 3_000)]
        let model = FutexModel(try FutexAnalysis(log: log([entries], side: [], comms: [(43, "w")])))
        let back = try FutexModel(entry: model.entry)
        XCTAssertEqual(back.locks.map(\.key), model.locks.map(\.key))
        XCTAssertEqual(back.tasks.map(\.total), [3_000])
        XCTAssertEqual(back.pairs.map(\.key), model.pairs.map(\.key))
        XCTAssertEqual(back.counters.map(\.name), model.counters.map(\.name))
        let broken = PyValue.keyed([(FutexModel.Key.locks, .list([.keyed([(FutexModel.Key.key, .string("x"))])]))])
        XCTAssertThrowsError(try FutexModel(entry: broken)) { error in
            XCTAssertTrue("\(error)".contains("locks[0]"), "\(error)")
        }
    }

    /// A lock word inside a global is named by the data symbol in the file mapped there.
    func testLockWordNamedByItsDataSymbol() throws {
        let maps = try String(contentsOfFile: "/proc/self/maps", encoding: .utf8)
        var spaces = AddressSpaces()
        spaces.load(snapshot: "= 1 self\n" + maps)
        let address = withUnsafeMutablePointer(to: &futexTableTestsLockWord) { UInt64(UInt(bitPattern: $0)) }
        var names = LockWordNames()
        let name = names.name(address, pid: 1, maps: spaces.mappings(pid: 1))
        XCTAssertTrue(name.contains("futexTableTestsLockWord"), name)
        XCTAssertFalse(name.contains("+0x"), "the symbol's own address: \(name)")
        let heap = malloc(64)!
        defer { free(heap) }
        let onHeap = names.name(UInt64(UInt(bitPattern: heap)), pid: 1, maps: spaces.mappings(pid: 1))
        XCTAssertTrue(onHeap.hasPrefix("[heap]+0x") || onHeap.hasPrefix("[anon]+0x"), onHeap)
    }
}
