import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// contention.wakers' handshake between a sleeping wait's end and the wakes of it still in their
/// program: the last party out adds the wait to the waker aggregation, so each kept wait is there
/// exactly once whichever finished first.
final class WakerHandshakeTests: XCTestCase {
    /// Per sleeping lock, the waker rows hold the same waits and wait time as the lock's row: a
    /// wait an in-flight wake was to finish and did not (or that both finished) would break it.
    func testEveryKeptSleepingWaitIsInTheWakerAggregationOnce() throws {
        try requireContentionBPF()
        let dir = temporaryDirectory(), exe = try compileContentionStorm("mkdir-storm.c")
        try FileManager.default.createDirectory(atPath: dir + "/storm", withIntermediateDirectories: false)
        try "modules contention\ncontention.mode bpf\ncontention.scope program\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", exe, dir + "/storm", "3", "4"])
        XCTAssertEqual(r.status, 0, r.err)
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let inFlight = try XCTUnwrap(d["cost"]?["wakes_in_flight"]?.number, "no wakes_in_flight in the cost")
        let wakers = try XCTUnwrap(d["wakers"]?.listItems, "no waker rows")
        var count = [String: Double](), wait = [String: Double]()
        for w in wakers {
            count[w["lock"]!.string!, default: 0] += w["contended"]?.number ?? 0
            wait[w["lock"]!.string!, default: 0] += w["total_wait_ns"]?.number ?? 0
        }
        // A lock's rows by type (rwsem:R and rwsem:W, say) summed.
        var lockCount = [String: Double](), lockWait = [String: Double]()
        for l in d["locks"]?.listItems ?? [] {
            let type = l["type"]?.string ?? ""
            guard type.hasPrefix("rwsem") || type == "mutex" else { continue }
            lockCount[l["lock"]!.string!, default: 0] += l["contended"]?.number ?? 0
            lockWait[l["lock"]!.string!, default: 0] += l["total_wait_ns"]?.number ?? 0
        }
        XCTAssertFalse(lockCount.isEmpty, "no sleeping lock in the storm")
        for (name, contended) in lockCount {
            let describe = "\(name): \(contended) waits, \(lockWait[name]!) ns; wakes_in_flight \(inFlight)"
            XCTAssertEqual(count[name] ?? 0, contended, describe)
            XCTAssertEqual(wait[name] ?? 0, lockWait[name]!, accuracy: 1, describe)
        }
        print("wakes_in_flight \(inFlight) of \(lockCount.values.reduce(0, +)) sleeping waits")
    }
}
