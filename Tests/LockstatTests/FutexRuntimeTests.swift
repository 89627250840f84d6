import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module on locks outside glibc's plain mutexes, each contended by a program whose
/// lock, locking function and unlocking function are known from its source (Tests/futex).
final class FutexRuntimeTests: XCTestCase {
    /// A run of `command` under the futex module; its futex results and the program's output.
    func futexRun(_ dir: String, _ command: [String]) throws -> (futex: PyValue, output: String) {
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run"] + command, quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        return (
            try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"]),
            try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        )
    }

    func text(_ row: PyValue, _ key: String) -> String { row[key]?.string ?? "" }
    func number(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }

    /// The lock rows of a run, the most contended first.
    func rankedLocks(_ d: PyValue) throws -> [PyValue] {
        try XCTUnwrap(d["locks"]?.listItems).sorted { number($0, "contention_wait_ns") > number($1, "contention_wait_ns") }
    }

    /// The share of `lock`'s wait in a folded table (`waiter_folded`, `waker_folded`) whose
    /// stack has a frame for which `isFrame` holds.
    func share(_ d: PyValue, _ folded: String, lock: String, _ isFrame: (Substring) -> Bool) throws -> Double {
        let items = try XCTUnwrap(d[folded]?.listItems)
        var all = 0.0
        var with = 0.0
        for case .tuple(let t) in items where t[0].string!.hasSuffix(";" + lock) {
            all += t[1].number!
            if t[0].string!.split(separator: ";").contains(where: isFrame) { with += t[1].number! }
        }
        XCTAssertGreaterThan(all, 0, "\(folded) of \(lock): \(items.prefix(3))")
        return all > 0 ? with / all : 0
    }

    /// A PTHREAD_PRIO_INHERIT mutex (Tests/futex/futex_pi.c): its waiters sleep in FUTEX_LOCK_PI
    /// and FUTEX_UNLOCK_PI wakes them. The lock is named by its symbol and ranked first as a
    /// mutex; ≥ 95 % of its wait has lock_pi on the waiter's stack and unlock_pi on the waker's;
    /// its owners (the tid the kernel keeps in a PI word) are all threads of the program.
    func testPriorityInheritanceMutex() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = dir + "/futex_pi"
        let cc = try shell(["cc", "-O2", "-pthread", "-o", exe, Fixtures.repository.path + "/Tests/futex/futex_pi.c"])
        XCTAssertEqual(cc.status, 0, cc.err)
        let (d, output) = try futexRun(dir, [exe, "2", "4"])
        let workers = Set(output.split(separator: "\n").filter { $0.hasPrefix("worker ") }.map { "futex_pi[\($0.dropFirst(7))]" })
        XCTAssertEqual(workers.count, 4, output)

        let lock = "pi_lock (futex_pi)"
        let top = try XCTUnwrap(try rankedLocks(d).first)
        XCTAssertEqual(text(top, "key"), lock)
        XCTAssertEqual(text(top, "kind"), "mutex")
        XCTAssertEqual(text(top, "released_by"), "unlock_pi")
        let waiter = try share(d, "waiter_folded", lock: lock) { $0 == "lock_pi" }
        let waker = try share(d, "waker_folded", lock: lock) { $0 == "unlock_pi" }
        print("futex_pi: lock_pi on \(waiter * 100) % of the waiter stacks' wait, unlock_pi on \(waker * 100) % of the wakers'")
        XCTAssertGreaterThanOrEqual(waiter, 0.95)
        XCTAssertGreaterThanOrEqual(waker, 0.95)

        // The owner at each wait's start is the tid in the PI word: one of the workers.
        let owners = try XCTUnwrap(d["owners"]?.listItems).filter { text($0, "lock") == lock }
        XCTAssertFalse(owners.isEmpty, "no owners of \(lock)")
        for o in owners { XCTAssertTrue(workers.contains(text(o, "owner")), "owner \(text(o, "owner")) not in \(workers)") }
        print("futex_pi: owners \(owners.map { "\(text($0, "owner")) \(Int(number($0, "waits"))) waits" })")
    }

    /// Rust's std::sync::Mutex (Tests/futex/futex_rust.rs, rustc -O): a futex word of its own,
    /// no glibc mutex. The static is named by its demangled symbol (with the legacy mangling's
    /// hash: `futex_rust::HEAVY::h…`) and ranked first as a mutex; ≥ 95 % of its wait has
    /// lock_heavy on the waiter's stack and unlock_heavy on the waker's. Rust's futex mutex
    /// keeps no owner's tid (its word is 0, 1 or 2): no owner is asserted.
    func testRustStdMutex() throws {
        try requireFutexModule()
        let rustc = ["/usr/bin/rustc", "/root/.cargo/bin/rustc"].first { FileManager.default.isExecutableFile(atPath: $0) }
        guard let rustc else {
            throw XCTSkip("SKIPPED: no rustc (/usr/bin/rustc: Debian's rustc; nor /root/.cargo/bin/rustc)")
        }
        let dir = temporaryDirectory()
        let exe = dir + "/futex_rust"
        let rc = try shell([rustc, "-O", "-o", exe, Fixtures.repository.path + "/Tests/futex/futex_rust.rs"])
        XCTAssertEqual(rc.status, 0, rc.err)
        let (d, output) = try futexRun(dir, [exe, "2", "4"])
        XCTAssertTrue(output.contains("heavy_ops "), output)

        let top = try XCTUnwrap(try rankedLocks(d).first)
        let lock = text(top, "key")
        print("futex_rust: the lock \(lock), kind \(text(top, "kind")), released by \(text(top, "released_by"))")
        XCTAssertTrue(lock.hasPrefix("futex_rust::HEAVY") && lock.hasSuffix(" (futex_rust)"), lock)
        XCTAssertEqual(text(top, "kind"), "mutex")
        XCTAssertTrue(text(top, "released_by").hasPrefix("futex_rust::unlock_heavy"), text(top, "released_by"))
        let waiter = try share(d, "waiter_folded", lock: lock) { $0.hasPrefix("futex_rust::lock_heavy") }
        let waker = try share(d, "waker_folded", lock: lock) { $0.hasPrefix("futex_rust::unlock_heavy") }
        print("futex_rust: lock_heavy on \(waiter * 100) % of the waiter stacks' wait, unlock_heavy on \(waker * 100) % of the wakers'")
        XCTAssertGreaterThanOrEqual(waiter, 0.95)
        XCTAssertGreaterThanOrEqual(waker, 0.95)
        let owners = try XCTUnwrap(d["owners"]?.listItems).filter { text($0, "lock") == lock }
        print("futex_rust: owner rows of \(lock): \(owners.map { text($0, "owner") })")
    }
}
