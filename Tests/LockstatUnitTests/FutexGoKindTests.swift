import XCTest

@testable import LockstatModules

/// The kind rules for Go's runtime (FutexRuntimeGo.swift), on the waiter frames (innermost
/// first) a run of Tests/futex/go_mutex.go (go 1.19) gave.
final class FutexGoKindTests: XCTestCase {
    /// An M with nothing to run parks in stopm's notesleep, sysmon sleeps in notetsleep: idle,
    /// not contention.
    func testRuntimeNoteSleepsAreIdle() {
        let stopm = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.notesleep", "runtime.stopm", "runtime.findRunnable",
            "runtime.schedule", "runtime.park_m", "runtime.mcall",
        ]
        let lockedM = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.notesleep", "runtime.mPark", "runtime.stoplockedm",
            "runtime.schedule", "runtime.park_m", "runtime.mcall", "runtime.newproc.abi0", "[unknown]",
        ]
        let sysmon = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.notetsleep_internal", "runtime.notetsleep",
            "runtime.sysmon", "runtime.mstart1", "runtime.mstart0", "runtime.mstart.abi0", "runtime.clone.abi0",
        ]
        let timers = ["runtime.futex.abi0", "runtime.futexsleep", "runtime.notetsleep_internal", "runtime.notetsleepg"]
        for frames in [stopm, lockedM, sysmon, timers] {
            XCTAssertEqual(FutexKind.classify(frames), .idle, "\(frames)")
        }
        XCTAssertFalse(FutexKind.idle.isContention)
        // Without the runtime's names (a binary built -ldflags=-s) nothing tells it.
        XCTAssertEqual(FutexKind.classify(["[unknown]", "[unknown]"]), .other)
    }

    /// The world stop (GC, ReadMemStats) waits on a note for every P to stop: a barrier, not
    /// contention, not an idle M.
    func testWorldStopIsABarrier() {
        let stopTheWorld = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.notetsleep_internal", "runtime.notetsleep",
            "runtime.stopTheWorldWithSema", "runtime.stopTheWorld.func1", "runtime.systemstack.abi0",
        ]
        XCTAssertEqual(FutexKind.classify(stopTheWorld), .barrier)
        let forEachP = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.notetsleep_internal", "runtime.notetsleep",
            "runtime.forEachP", "runtime.gcMarkDone.func1",
        ]
        XCTAssertEqual(FutexKind.classify(forEachP), .barrier)
        XCTAssertFalse(FutexKind.barrier.isContention)
    }

    /// runtime.lock2 sleeps on the runtime's internal mutex (sched.lock, a semaphore table's
    /// lock): a mutex, also when a sync.Mutex's Unlock takes it.
    func testRuntimeLock2IsAMutex() {
        let sched = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.lock2", "runtime.findRunnable", "runtime.schedule",
            "runtime.park_m", "runtime.mcall",
        ]
        let semtable = [
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.lock2", "runtime.semrelease1",
            "sync.runtime_Semrelease", "sync.(*Mutex).unlockSlow", "main.unlockHeavy", "main.worker",
        ]
        XCTAssertEqual(FutexKind.classify(sched), .mutex)
        XCTAssertEqual(FutexKind.classify(semtable), .mutex)
        XCTAssertTrue(FutexKind.mutex.isContention)
        // A wait is told by its innermost rule: lock2 reached from under a note sleep's caller is
        // still the mutex; a name only starting like a rule's is not it.
        XCTAssertEqual(FutexKind.classify(["runtime.futexsleep", "runtime.lock2", "runtime.notesleep"]), .mutex)
        XCTAssertEqual(FutexKind.classify(["runtime.futexsleep", "runtime.lock2x", "main.f"]), .other)
        XCTAssertEqual(FutexKind.classify(["runtime.futexsleep", "runtime.notesleeper", "main.f"]), .other)
    }

    /// A Go wait's call site is the caller of the runtime's futex functions (runtime.futex,
    /// futexsleep, lock2, notesleep…; as libc's for C), not runtime.futex every wait passes.
    func testGoCallSiteIsTheCallerOfTheRuntimeFutexFunctions() {
        func frames(_ names: [String]) -> [Symbolizer.Frame] {
            names.map { .init(symbol: $0, image: "go_mutex", kind: .program) }
        }
        let waiter = frames([
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.lock2", "runtime.semrelease1",
            "sync.runtime_Semrelease", "sync.(*Mutex).unlockSlow", "main.unlockHeavy",
        ])
        XCTAssertEqual(FutexAnalysis.site(waiter), "runtime.semrelease1")
        let idle = frames(["runtime.futex.abi0", "runtime.futexsleep", "runtime.notesleep", "runtime.stopm"])
        XCTAssertEqual(FutexAnalysis.site(idle), "runtime.stopm")
        let sysmon = frames([
            "runtime.futex.abi0", "runtime.futexsleep", "runtime.notetsleep_internal", "runtime.notetsleep",
            "runtime.sysmon",
        ])
        XCTAssertEqual(FutexAnalysis.site(sysmon), "runtime.sysmon")
        let waker = frames(["runtime.futex.abi0", "runtime.futexwakeup", "runtime.notewakeup", "runtime.startm"])
        XCTAssertEqual(FutexAnalysis.site(waker), "runtime.startm")
        // Only those: a program's own function named like one is a site.
        XCTAssertEqual(FutexAnalysis.site(frames(["runtime.futexsleep", "main.lock2"])), "main.lock2")
    }
}
