import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// A signal that wakes a task waiting on a lock is no release: the wait shows no waker, never
/// the sender as if it had released the lock.
final class WakerSignalTests: XCTestCase {
    /// 20 mmap storms, each SIGKILLed while its threads wait killably for their mmap_lock (mmap
    /// takes it with mmap_write_lock_killable): the kill's wakes of those waiters, whose stack is
    /// the sender's complete_signal, are class `signal` with no waker, and their waits failed.
    func testAKilledWaitersWakeIsASignalNotAWaker() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mmap-storm.c")
        // The storm runs 0.15 s after its 4 threads exist, then is killed mid-contention.
        let script = """
            for i in $(seq 20); do
              "\(storm)" 5 4 & p=$!
              while [ "$(ls /proc/$p/task 2>/dev/null | wc -l)" -lt 5 ]; do :; done
              sleep 0.15
              kill -9 $p
              wait $p 2>/dev/null
            done
            exit 0

            """
        try script.write(toFile: dir + "/kills.sh", atomically: true, encoding: .utf8)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "sh", dir + "/kills.sh"])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let wakers = try XCTUnwrap(d["wakers"]?.listItems, "no waker rows in samples.pickle")
        let bySignal = wakers.filter { ($0["waker_stack"]?.string ?? "").contains("complete_signal") }
        func describe(_ rows: [PyValue]) -> String {
            rows.map {
                "\($0["class"]?.string ?? "") \($0["waker"]?.string ?? "") failed \($0["failed"]?.number ?? 0): "
                    + ($0["waker_stack"]?.string ?? "")
            }.joined(separator: "\n")
        }
        XCTAssertFalse(bySignal.isEmpty, "no wait was woken by the kills\n" + describe(wakers))
        XCTAssertTrue(bySignal.allSatisfy { $0["class"]?.string == "signal" }, describe(bySignal))
        XCTAssertTrue(bySignal.allSatisfy { $0["waker"]?.string == "no waker (signal)" }, describe(bySignal))
        XCTAssertGreaterThan(bySignal.reduce(0) { $0 + ($1["failed"]?.number ?? 0) }, 0, describe(bySignal))
    }
}
