import CLockstat
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// `report --type/--lock/--stack` on the futex module: its waits are filtered at analysis as
/// contention's are, by kind, lock word and a frame of the waiter's stack; an option a module
/// cannot apply is said in one line.
final class FutexFilterTests: XCTestCase {
    /// Three waits: a mutex named by its symbol, a condvar in the heap, a rwlock at a bare address.
    func analysis() throws -> FutexAnalysis {
        let path = temporaryDirectory() + "/futex.log"
        let writer = try RawLogWriter(path: path)
        writer.append(kind: .header, tick: 0, time: 1, text: "module futex\ninterval_ns 500000000\nstart_ns 1\n")
        let entries = [UInt64(0x10), 0x20, 0x30].map { address -> ls_futex_entry in
            var e = ls_futex_entry()
            (e.key.uaddr, e.key.tgid, e.key.tid, e.key.outcome) = (address, 42, 43, LS_FUTEX_WOKEN.rawValue)
            (e.key.user_stack, e.key.kernel_stack, e.key.waker_user_stack, e.key.waker_kernel_stack) = (-1, -1, -1, -1)
            (e.value.count, e.value.total_ns) = (1, 1000)
            return e
        }
        entries.withUnsafeBytes {
            writer.append(kind: .snapshot, stream: FutexRecorder.waitsStream, tick: 1, time: 2, payload: $0)
        }
        var a = try FutexAnalysis(log: RawLog.read(path: path))
        let named: [UInt64: (String, FutexKind, [String])] = [
            0x10: ("heavy_lock (prog)", .mutex, ["main", "lock_heavy", "pthread_mutex_lock", "do_futex"]),
            0x20: ("[heap]+0x20", .condvar, ["main", "wait_ready", "pthread_cond_wait", "do_futex"]),
            0x30: ("0x30", .rwlock, ["reader", "pthread_rwlock_rdlock", "do_futex"]),
        ]
        for i in a.waits.indices {
            let (lock, kind, stack) = try XCTUnwrap(named[a.waits[i].wait.uaddr])
            (a.waits[i].lock, a.waits[i].kind, a.waits[i].waiterStack) = (lock, kind, stack)
        }
        return a
    }

    func kept(_ filter: ContentionFilter) throws -> [UInt64] {
        var a = try analysis()
        a.keep(filter)
        return a.waits.map(\.wait.uaddr).sorted()
    }

    func testWaitsAreKeptByKindLockWordAndWaiterFrame() throws {
        XCTAssertEqual(try kept(ContentionFilter()), [0x10, 0x20, 0x30])
        XCTAssertEqual(try kept(ContentionFilter(types: ["condvar"])), [0x20])
        XCTAssertEqual(try kept(ContentionFilter(types: ["mutex", "rwlock"])), [0x10, 0x30])
        XCTAssertEqual(try kept(ContentionFilter(locks: ["heavy_lock"])), [0x10], "the symbol alone")
        XCTAssertEqual(try kept(ContentionFilter(locks: ["heavy_lock (prog)"])), [0x10], "the name as printed")
        XCTAssertEqual(try kept(ContentionFilter(locks: ["[heap]+0x20", "0x30"])), [0x20, 0x30], "name or address")
        XCTAssertEqual(try kept(ContentionFilter(locks: ["heavy"])), [], "a lock is named whole, not a substring")
        XCTAssertEqual(try kept(ContentionFilter(stacks: ["lock_he"])), [0x10])
        XCTAssertEqual(try kept(ContentionFilter(stacks: ["do_futex"])), [0x10, 0x20, 0x30], "kernel frames too")
        XCTAssertEqual(
            try kept(ContentionFilter(types: ["mutex"], stacks: ["wait_ready"])), [], "every list must match")
    }

    func testFutexTakesTheOptionsAndEachModuleItsOwnWords() throws {
        let futexSettings = FutexSettings(
            Config(modules: ["futex"], moduleSettings: ["futex": ["types": ["gil"], "stacks": ["take_gil"]]]))
        XCTAssertEqual(futexSettings.filter, ContentionFilter(types: ["gil"], stacks: ["take_gil"]))
        let modules: [any LockstatModule] = [StatModule(), ContentionModule(), FutexModule()]
        var o = SettingOverrides()
        o.add(option: "--type", key: "types", values: ["condvar"])
        XCTAssertNoThrow(try o.check(modules), "a futex kind, though contention's types come first")
        XCTAssertEqual(
            o.unapplied(to: modules),
            ["--type condvar: not applied to stat (its tables whole); no types of contention (none of its rows kept)"])
        XCTAssertEqual(o.unapplied(to: [FutexModule()]), [])
        var bad = SettingOverrides()
        bad.add(option: "--type", key: "types", values: ["mutex", "bogus"])
        XCTAssertThrowsError(try bad.check(modules)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("--type: takes words from ") && text.contains("got 'bogus'"), text)
            XCTAssertTrue(text.contains("rwsem:W") && text.contains("condvar"), "both modules' words: \(text)")
        }
    }
}
