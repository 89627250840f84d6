import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module on a C++ program (Tests/futex/futex_cpp.cpp): std::mutex in a namespace,
/// locked and unlocked in noinline functions, built by g++ -O2 with and without frame pointers.
final class FutexCppTests: XCTestCase {
    func requireFutexAndGxx() throws {
        try requireFutexModule()
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/g++") else {
            throw XCTSkip("SKIPPED: no /usr/bin/g++ (Debian's g++; .ci/run installs it)")
        }
    }

    /// The heavy mutex is named by its demangled symbol and ranked first among the program's
    /// locks, as a mutex, the light one second; ≥ 95 % of its wait has lock_heavy() on the
    /// waiter's stack and unlock_heavy() on the waker's (the callers of glibc, found by
    /// unwinding the stack copies: libstdc++ and glibc keep no frame pointers).
    func testStdMutexWithFramePointers() throws {
        try heavyMutexNamedWithItsCallers(frames: "-fno-omit-frame-pointer")
    }

    func testStdMutexWithoutFramePointers() throws {
        try heavyMutexNamedWithItsCallers(frames: "-fomit-frame-pointer")
    }

    func heavyMutexNamedWithItsCallers(frames: String) throws {
        try requireFutexAndGxx()
        let dir = temporaryDirectory()
        let exe = dir + "/futex_cpp"
        let cc = try shell([
            "g++", "-O2", frames, "-pthread", "-o", exe, Fixtures.repository.path + "/Tests/futex/futex_cpp.cpp",
        ])
        XCTAssertEqual(cc.status, 0, cc.err)
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run", exe, "2", "4"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let d = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        func text(_ row: PyValue, _ key: String) -> String { row[key]?.string ?? "" }
        func number(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }
        let locks = try XCTUnwrap(d["locks"]?.listItems)
        let ranked = locks.filter { text($0, "key").hasSuffix("(futex_cpp)") }
            .sorted { number($0, "contention_wait_ns") > number($1, "contention_wait_ns") }
        XCTAssertEqual(ranked.first.map { text($0, "key") }, "app::heavy_mutex (futex_cpp)", "\(locks)")
        XCTAssertEqual(ranked.dropFirst().first.map { text($0, "key") }, "app::light_mutex (futex_cpp)", "\(locks)")
        XCTAssertEqual(ranked.first.map { text($0, "kind") }, "mutex")

        // The folded stacks, root first, end in the lock's name; a frame is a C++ function's
        // demangled name (`lock_heavy()`).
        func share(_ folded: String, _ function: String) throws -> Double {
            let items = try XCTUnwrap(d[folded]?.listItems)
            var all = 0.0
            var with = 0.0
            for case .tuple(let t) in items where t[0].string!.hasSuffix(";app::heavy_mutex (futex_cpp)") {
                all += t[1].number!
                if t[0].string!.split(separator: ";").contains(where: { $0.hasPrefix(function + "(") }) {
                    with += t[1].number!
                }
            }
            XCTAssertGreaterThan(all, 0, "\(folded): \(items.prefix(3))")
            return with / all
        }
        let waiter = try share("waiter_folded", "lock_heavy")
        let waker = try share("waker_folded", "unlock_heavy")
        print("futex_cpp \(frames): lock_heavy on \(waiter * 100) % of the waiter stacks' wait, unlock_heavy on \(waker * 100) % of the wakers'")
        XCTAssertGreaterThanOrEqual(waiter, 0.95)
        XCTAssertGreaterThanOrEqual(waker, 0.95)
    }
}
