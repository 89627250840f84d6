import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module on a Go program (Tests/futex/go_mutex.go, go 1.19): what it sees of Go, and
/// what it cannot. Go's runtime sleeps in futex waits of its own (runtime.futex, no libc) when an
/// M has nothing to run (notesleep) and on its internal mutex (runtime.lock2); a contended
/// sync.Mutex parks the goroutine in the scheduler, with no futex wait of its own.
final class FutexGoTests: XCTestCase {
    func text(_ row: PyValue, _ key: String) -> String { row[key]?.string ?? "" }
    func number(_ row: PyValue, _ key: String) -> Double { row[key]?.number ?? 0 }

    /// go_mutex.go built by Debian's go into `dir` (its build cache and GOPATH there too: nothing
    /// is written into the repository or read from a user's Go environment file).
    func buildGoMutex(_ dir: String) throws -> String {
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/go") else {
            throw XCTSkip("SKIPPED: no /usr/bin/go (Debian's golang-go)")
        }
        let source = dir + "/go_mutex.go"
        try FileManager.default.copyItem(atPath: Fixtures.repository.path + "/Tests/futex/go_mutex.go", toPath: source)
        let exe = dir + "/go_mutex"
        let go = try shell(
            ["/usr/bin/go", "build", "-o", exe, source],
            environment: [
                "HOME": dir, "PATH": "/usr/bin:/bin", "GOCACHE": dir + "/gocache", "GOPATH": dir + "/gopath",
                "GOENV": "off", "GOFLAGS": "", "CGO_ENABLED": "0", "GO111MODULE": "off",
            ])
        XCTAssertEqual(go.status, 0, go.err)
        return exe
    }

    /// The value of the program's output line `name VALUE`.
    func figure(_ output: String, _ name: String) throws -> Double {
        let line = try XCTUnwrap(output.split(separator: "\n").first { $0.hasPrefix(name + " ") }, output)
        return try XCTUnwrap(Double(line.dropFirst(name.count + 1)), output)
    }

    /// The run's lock words whose waiter stacks (`waiter_folded`) have a frame `isFrame` holds for.
    func words(_ d: PyValue, _ isFrame: (Substring) -> Bool) throws -> Set<String> {
        var found = Set<String>()
        for case .tuple(let t) in try XCTUnwrap(d["waiter_folded"]?.listItems) {
            let frames = t[0].string!.split(separator: ";")
            if frames.dropLast().contains(where: isFrame) { found.insert(String(frames.last!)) }
        }
        return found
    }

    /// 4 goroutines (GOMAXPROCS 4) contend on a sync.Mutex for 2 s and pause together every
    /// 100 ms. The Ms' sleeps with nothing to run (runtime.notesleep, sysmon's notetsleep) are
    /// named, unwound, classed `idle` and not counted as contention, so not ranked, their site
    /// the runtime's caller (runtime.stopm), not runtime.futex; a world stop's wait is a
    /// barrier; runtime.lock2's
    /// waits, if any, are `mutex`. The sync.Mutex's wait, which Go's own mutex profile measures
    /// on the same run, is not there: no futex wait is on the mutex's word and the program's
    /// futex contention is far below the profile's delay.
    func testGoRuntimeSleepsAreIdleAndSyncMutexIsNotSeen() throws {
        try requireFutexModule()
        let dir = temporaryDirectory()
        let exe = try buildGoMutex(dir)
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let r = try Lockstat.run(["--config", dir + "/f.config", dir + "/run", exe, "2", "4"], quiet: false)
        XCTAssertEqual(r.status, 0, r.err)
        let d = try XCTUnwrap(try Lockstat.samples(dir + "/run")["futex"])
        let output = try String(contentsOfFile: dir + "/run/output", encoding: .utf8)
        let profileDelay = try figure(output, "mutex_delay_seconds")
        let ownClock = try figure(output, "lock_wait_seconds")
        XCTAssertGreaterThan(try figure(output, "heavy_ops"), 0, output)

        let locks = try XCTUnwrap(d["locks"]?.listItems)
        let row = { (key: String) in locks.first { self.text($0, "key") == key } }
        // The Ms' idle sleeps: named Go frames, found by DWARF, under the scheduler or sysmon.
        // The world stop's wait for every P to stop (a GC's, ReadMemStats') is a barrier.
        let worldStop = try words(d) { $0 == "runtime.stopTheWorldWithSema" || $0 == "runtime.forEachP" }
        for key in worldStop {
            let l = try XCTUnwrap(row(key), key)
            XCTAssertEqual(text(l, "kind"), "barrier", key)
            XCTAssertEqual(number(l, "contention_wait_ns"), 0, key)
        }
        let idle = try words(d) { ["runtime.notesleep", "runtime.notetsleep", "runtime.notetsleepg"].contains($0) }
            .subtracting(worldStop)
        XCTAssertFalse(idle.isEmpty, "no runtime.notesleep on the waiter stacks: \(locks)")
        var idleWait = 0.0
        var idleWaits = 0.0
        for key in idle {
            let l = try XCTUnwrap(row(key), key)
            XCTAssertEqual(text(l, "kind"), "idle", key)
            XCTAssertEqual(number(l, "contention_wait_ns"), 0, key)
            XCTAssertEqual(text(l, "stack"), "dwarf", key)
            idleWait += number(l, "total_wait_ns")
            idleWaits += number(l, "waits")
        }
        let scheduler = try words(d) { $0 == "runtime.schedule" || $0 == "runtime.sysmon" }
        XCTAssertTrue(idle.isSubset(of: scheduler), "idle words without runtime.schedule or sysmon: \(idle)")
        XCTAssertGreaterThanOrEqual(idleWaits, 10, "\(idle)")
        // runtime.lock2: the runtime's own mutex (sched.lock, a semaphore table's lock).
        let lock2 = try words(d) { $0 == "runtime.lock2" }
        for key in lock2 { XCTAssertEqual(text(try XCTUnwrap(row(key), key), "kind"), "mutex", key) }
        XCTAssertTrue(idle.isDisjoint(with: lock2))
        // The call sites are the callers of the runtime's futex functions (an idle M's stopm, and
        // startm that woke it), not runtime.futex, which every wait and wake passes through.
        for table in ["waiters", "wakers"] {
            for site in try XCTUnwrap(d[table]?.listItems).map({ text($0, "key") }) {
                XCTAssertFalse(FutexAnalysis.isGoRuntimeFutexFrame(site), "\(table): \(site)")
            }
        }
        let idleWaiters = try XCTUnwrap(d["waiters"]?.listItems).filter { text($0, "kind") == "idle" }
        let busiest = idleWaiters.max { number($0, "total_wait_ns") < number($1, "total_wait_ns") }
        XCTAssertEqual(busiest.map { text($0, "key") }, "runtime.stopm", "\(idleWaiters)")
        // Nothing idle in the summary's ranking (it ranks rows with contention wait).
        let ranking = r.err.split(separator: "\n").drop { !$0.contains("most contended user-space locks") }
        XCTAssertFalse(ranking.contains { $0.contains(" idle ") }, r.err)

        // The sync.Mutex: its word is never waited on, its delay is Go's profile's, not lockstat's.
        XCTAssertFalse(locks.contains { text($0, "key").hasPrefix("main.heavy") }, "\(locks)")
        let contention = locks.reduce(0.0) { $0 + number($1, "contention_wait_ns") } / 1e9
        print(
            "go_mutex: Go's mutex profile \(profileDelay) s of sync.Mutex delay (the workers' own clock around"
                + " Lock: \(ownClock) s); lockstat: \(contention) s of futex contention (\(lock2.count) runtime.lock2"
                + " words), \(idleWait / 1e9) s idle in \(Int(idleWaits)) waits on \(idle.count) words,"
                + " \(worldStop.count) world-stop words")
        XCTAssertGreaterThanOrEqual(profileDelay, 0.05, "the sync.Mutex was hardly contended: \(output)")
        XCTAssertLessThan(contention, profileDelay / 10, "lockstat's futex contention against Go's profile")
    }
}
