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
        try XCTUnwrap(d["locks"]?.listItems).sorted {
            number($0, "contention_wait_ns") > number($1, "contention_wait_ns")
        }
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
        let workers = Set(
            output.split(separator: "\n").filter { $0.hasPrefix("worker ") }.map { "futex_pi[\($0.dropFirst(7))]" })
        XCTAssertEqual(workers.count, 4, output)

        let lock = "pi_lock (futex_pi)"
        let top = try XCTUnwrap(try rankedLocks(d).first)
        XCTAssertEqual(text(top, "key"), lock)
        XCTAssertEqual(text(top, "kind"), "mutex")
        XCTAssertEqual(text(top, "released_by"), "unlock_pi")
        let waiter = try share(d, "waiter_folded", lock: lock) { $0 == "lock_pi" }
        let waker = try share(d, "waker_folded", lock: lock) { $0 == "unlock_pi" }
        print(
            "futex_pi: lock_pi on \(waiter * 100) % of the waiters' wait, unlock_pi on \(waker * 100) % of the wakers'"
        )
        XCTAssertGreaterThanOrEqual(waiter, 0.95)
        XCTAssertGreaterThanOrEqual(waker, 0.95)

        // The owner at each wait's start is the tid in the PI word: one of the workers.
        let owners = try XCTUnwrap(d["owners"]?.listItems).filter { text($0, "lock") == lock }
        XCTAssertFalse(owners.isEmpty, "no owners of \(lock)")
        for o in owners {
            XCTAssertTrue(workers.contains(text(o, "owner")), "owner \(text(o, "owner")) not in \(workers)")
        }
        print("futex_pi: owners \(owners.map { "\(text($0, "owner")) \(Int(number($0, "waits"))) waits" })")
    }

    /// Rust's std::sync::Mutex (Tests/futex/futex_rust.rs, rustc -O): a futex word of its own,
    /// no glibc mutex. The static is named by its demangled symbol (with the legacy mangling's
    /// hash: `futex_rust::HEAVY::h…`) and ranked first as a mutex; ≥ 95 % of its wait has
    /// lock_heavy on the waiter's stack and unlock_heavy on the waker's. Rust's futex mutex
    /// keeps no owner's tid (its word is 0, 1 or 2, its data at offset 8): no owner rows.
    func testRustStdMutex() throws {
        try requireFutexModule()
        let rustc = ["/usr/bin/rustc", "/root/.cargo/bin/rustc"].first {
            FileManager.default.isExecutableFile(atPath: $0)
        }
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
        print(
            "futex_rust: lock_heavy on \(waiter * 100) % of the waiters' wait, unlock_heavy on \(waker * 100) %"
        )
        XCTAssertGreaterThanOrEqual(waiter, 0.95)
        XCTAssertGreaterThanOrEqual(waker, 0.95)
        let owners = try XCTUnwrap(d["owners"]?.listItems).filter { text($0, "lock") == lock }
        XCTAssertTrue(owners.isEmpty, "owner rows of \(lock): \(owners.map { text($0, "owner") })")
    }

    /// CPython's GIL (Tests/futex/gil_spin.py, 4 CPU-bound threads) under Debian's python3,
    /// whose binary keeps no symbols for its static functions (take_gil, drop_gil: python3-dbg
    /// has them): the GIL's condition variable and mutex are named as words of `_PyRuntime`
    /// (an exported symbol), the waiter's and the waker's stacks reach the interpreter's loop
    /// (`_PyEval_EvalFrameDefault`) through `[unknown]` frames, and the waits are classed by
    /// glibc's frames (condvar, mutex), not as the GIL (unless python3-dbg names take_gil).
    func testGilOfDebiansPython() throws {
        try requireFutexModule()
        let python = "/usr/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("SKIPPED: no /usr/bin/python3 (Debian's python3)")
        }
        // With python3-dbg's symbols (found by the binary's debug link) take_gil is named: then
        // gilWaits asserts the kind gil.
        let named = try gilWaits(python)
        print("gil_spin under \(python): take_gil \(named ? "named" : "not named")")
    }

    /// The same under an interpreter whose symbols name take_gil (pyenv's CPython 3.11, built
    /// with its symbols): the GIL's words are of kind gil (contention), take_gil or drop_gil on
    /// ≥ 95 % of their waiter stacks' wait, drop_gil on the busiest word's wakers' stacks.
    func testGilNamedByTakeGil() throws {
        try requireFutexModule()
        let python = "/root/.pyenv/versions/3.11.7/bin/python3"
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw XCTSkip("SKIPPED: no \(python) (a CPython whose symbols name take_gil)")
        }
        XCTAssertTrue(try gilWaits(python), "take_gil not on the GIL's waiter stacks")
    }

    /// Runs gil_spin.py under `python`; asserts what holds for every interpreter and, where
    /// take_gil and drop_gil are named on the GIL's waiter stacks, the kind gil and the waker's drop_gil.
    func gilWaits(_ python: String) throws -> Bool {
        let dir = temporaryDirectory(python.replacingOccurrences(of: "/", with: "_"))
        let (d, output) = try futexRun(dir, [python, Fixtures.repository.path + "/Tests/futex/gil_spin.py", "2", "4"])
        XCTAssertTrue(output.contains("loops "), output)
        // The GIL's words are in _PyRuntime (its ceval.gil: a condition variable and a mutex).
        let words = try rankedLocks(d).filter { text($0, "key").hasPrefix("_PyRuntime+") }
        let waits = words.map { number($0, "waits") }.reduce(0, +)
        print(
            "gil_spin under \(python): "
                + words.map { w in
                    "\(text(w, "key")) \(text(w, "kind")) \(Int(number(w, "waits"))) waits, by \(text(w, "released_by"))"
                }.joined(separator: "; ")
        )
        XCTAssertGreaterThanOrEqual(waits, 20, "the GIL's words: \(words)")
        let waiterFolded = try XCTUnwrap(d["waiter_folded"]?.listItems)
        var all = 0.0
        var inLoop = 0.0
        var inTakeGil = 0.0
        for case .tuple(let t) in waiterFolded where t[0].string!.split(separator: ";").last!.hasPrefix("_PyRuntime+") {
            let frames = t[0].string!.split(separator: ";")
            all += t[1].number!
            if frames.contains("_PyEval_EvalFrameDefault") { inLoop += t[1].number! }
            if frames.contains("take_gil") || frames.contains("drop_gil") { inTakeGil += t[1].number! }
        }
        print(
            "gil_spin under \(python): of the GIL's waiters' wait, _PyEval_EvalFrameDefault on \(inLoop / all * 100) %,"
                + " take_gil or drop_gil on \(inTakeGil / all * 100) %"
        )
        XCTAssertGreaterThan(all, 0, "no waiter stacks of the GIL's words")
        XCTAssertGreaterThanOrEqual(inLoop / all, 0.9)
        let named = inTakeGil / all >= 0.95
        // The GIL's words carry the waits; another word of _PyRuntime (a thread's start or exit)
        // may have a few of its own, of another kind: at least 95 % of the waits are of the GIL's kinds.
        let kinds = named ? ["gil"] : ["condvar", "mutex"]
        let ofKinds = words.filter { kinds.contains(text($0, "kind")) }.map { number($0, "waits") }.reduce(0, +)
        XCTAssertGreaterThanOrEqual(ofKinds / waits, 0.95, "\(words.map { "\(text($0, "key")): \(text($0, "kind"))" })")
        if named {
            for w in words where text(w, "kind") == "gil" {
                XCTAssertGreaterThan(number(w, "contention_wait_ns"), 0, text(w, "key"))
            }
        }
        if named {
            let top = try XCTUnwrap(words.first)
            let waker = try share(d, "waker_folded", lock: text(top, "key")) { $0 == "drop_gil" }
            print("gil_spin under \(python): drop_gil on \(waker * 100) % of \(text(top, "key"))'s wakers' stacks")
            XCTAssertGreaterThanOrEqual(waker, 0.95)
        }
        return named
    }
}
