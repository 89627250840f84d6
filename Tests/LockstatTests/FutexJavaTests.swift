import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// The futex module on a HotSpot JVM (Tests/futex/JavaLocks.java: 4 threads contend on a
/// `synchronized` block, then on a ReentrantLock, held in monitorLocked and reentrantLocked), one
/// JVM run with the flags that name its JIT-compiled frames: a perf map written at exit
/// (-XX:+DumpPerfMapAtExit), frame pointers kept in compiled code (-XX:+PreserveFramePointer)
/// and the two methods kept out of their callers (dontinline) so each is a frame of its own.
/// The JVM's waits are keyed by glibc's frames only (docs/futex.md, Java): most monitor waits
/// inherit another path's stack copy, so the assertions are on the stacks seen, not on totals.
final class FutexJavaTests: XCTestCase {
    typealias Folded = [(frames: [Substring], ns: Double)]

    func folded(_ d: PyValue, _ key: String) throws -> Folded {
        try XCTUnwrap(d[key]?.listItems).compactMap { item -> (frames: [Substring], ns: Double)? in
            guard case .tuple(let t) = item, let s = t[0].string, let ns = t[1].number else { return nil }
            return (s.split(separator: ";"), ns)
        }
    }

    /// Of the wait of the stacks for which `of` holds, the share with a frame for which `with` holds.
    func share(_ stacks: Folded, of: (Substring) -> Bool, with: (Substring) -> Bool) -> (ns: Double, share: Double) {
        let chosen = stacks.filter { $0.frames.contains(where: of) }
        let all = chosen.map(\.ns).reduce(0, +)
        let with = chosen.filter { $0.frames.contains(where: with) }.map(\.ns).reduce(0, +)
        return (all, all > 0 ? with / all : 0)
    }

    func testSynchronizedAndReentrantLockOfHotSpot() throws {
        try requireFutexModule()
        let java = "/usr/bin/java"
        guard FileManager.default.isExecutableFile(atPath: java),
            FileManager.default.isExecutableFile(atPath: "/usr/bin/javac")
        else { throw XCTSkip("SKIPPED: no /usr/bin/java and /usr/bin/javac (Debian's default-jdk)") }
        let dir = temporaryDirectory()
        let javac = try shell(["/usr/bin/javac", "-d", dir, Fixtures.repository.path + "/Tests/futex/JavaLocks.java"])
        XCTAssertEqual(javac.status, 0, javac.err)
        try "modules futex\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        func isMonitorEnter(_ f: Substring) -> Bool {
            f.hasPrefix("ObjectMonitor::enter(") || f.hasPrefix("ObjectMonitor::EnterI(")
        }
        // A monitor wait inherits the stack copy of the first wait with its call-path key, which
        // a JVM's condvar waits share (docs/futex.md, Java): in 1 run of 6 no monitor waiter
        // stack was copied at all. Up to 3 runs, until one shows a monitor's waiter stack.
        var run = ""
        var waiters = Folded()
        var d = PyValue.none
        for attempt in 1...3 {
            run = dir + "/run\(attempt)"
            let r = try Lockstat.run(
                [
                    "--config", dir + "/f.config", run, java, "-XX:+UnlockDiagnosticVMOptions",
                    "-XX:+DumpPerfMapAtExit", "-XX:+PreserveFramePointer", "-XX:CompileCommand=quiet",
                    "-XX:CompileCommand=dontinline,JavaLocks::*Locked", "-cp", dir, "JavaLocks", "1", "4",
                ], quiet: false)
            let output = try String(contentsOfFile: run + "/output", encoding: .utf8)
            // The map the JVM this test started wrote at its exit.
            if let pid = output.split(separator: "\n").first(where: { $0.hasPrefix("pid ") })?.dropFirst(4) {
                try? FileManager.default.removeItem(atPath: "/tmp/perf-\(pid).map")
            }
            XCTAssertEqual(r.status, 0, r.err)
            XCTAssertTrue(output.contains("monitor_ops ") && output.contains("reentrant_ops "), output)
            XCTAssertFalse(r.err.contains(".map not read"), r.err)
            d = try XCTUnwrap(try Lockstat.samples(run)["futex"])
            waiters = try folded(d, "waiter_folded")
            print("JavaLocks: run \(attempt)")
            if waiters.contains(where: { $0.frames.contains(where: isMonitorEnter) }) { break }
        }
        let wakers = try folded(d, "waker_folded")

        func isMonitorExit(_ f: Substring) -> Bool {
            f.hasPrefix("ObjectMonitor::exit(") || f.hasPrefix("ObjectMonitor::ExitEpilog(")
                || f.hasPrefix("os::PlatformEvent::unpark(")
        }
        func isPark(_ f: Substring) -> Bool { f == "Unsafe_Park" || f.hasPrefix("Parker::park(") }
        func isUnpark(_ f: Substring) -> Bool { f == "Unsafe_Unpark" || f.hasPrefix("Parker::unpark(") }
        func method(_ name: String) -> (Substring) -> Bool { { $0.contains("JavaLocks.\(name)(") } }

        // libjvm's frames are named (its .symtab) and unwound (its .eh_frame) through glibc's.
        let monitorWaits = share(waiters, of: isMonitorEnter, with: method("monitorLocked"))
        let parkWaits = share(waiters, of: isPark, with: method("reentrantLocked"))
        let monitorWakes = share(wakers, of: isMonitorExit, with: method("monitorLocked"))
        let unparkWakes = share(wakers, of: isUnpark, with: method("reentrantLocked"))
        for (name, found) in [
            ("monitor waits, monitorLocked", monitorWaits), ("park waits, reentrantLocked", parkWaits),
            ("monitor wakes, monitorLocked", monitorWakes), ("unpark wakes, reentrantLocked", unparkWakes),
        ] {
            print("JavaLocks: \(name): \(found.ns / 1e6) ms, the method on \(found.share * 100) %")
        }
        XCTAssertGreaterThan(monitorWaits.ns, 0, "no waiter stack with ObjectMonitor::enter/EnterI")
        XCTAssertGreaterThan(parkWaits.ns, 0, "no waiter stack with Unsafe_Park/Parker::park")
        XCTAssertGreaterThan(monitorWakes.ns, 0, "no waker stack with ObjectMonitor::exit/ExitEpilog")
        XCTAssertGreaterThan(unparkWakes.ns, 0, "no waker stack with Unsafe_Unpark/Parker::unpark")
        // The perf map names the compiled Java frames: the program's methods on the stacks
        // (a stack copied while its method ran interpreted has `Interpreter` in its place).
        XCTAssertGreaterThanOrEqual(monitorWaits.share, 0.5)
        XCTAssertGreaterThanOrEqual(parkWaits.share, 0.5)
        XCTAssertGreaterThan(monitorWakes.share, 0)
        XCTAssertGreaterThan(unparkWakes.share, 0)

        // Kinds, wait by wait (a lock word's row mixes the waits of call paths that share a stack
        // copy: docs/futex.md, Java): `monitor` (contention) on a monitor's waiter stack; `park`
        // on a park's, the ReentrantLock's own frames being inlined into reentrantLocked (mutex
        // where one is named).
        let analysis = try FutexAnalysis(log: RawLog.read(path: run + "/samples/futex.log"))
        var monitorKinds = 0
        var parkKinds = 0
        for w in analysis.waits where w.wait.slept {
            let frames = w.waiterStack.map { Substring($0) }
            if frames.contains(where: isMonitorEnter) {
                monitorKinds += 1
                XCTAssertEqual(w.kind, .monitor, "\(frames)")
                XCTAssertTrue(w.kind.isContention)
            } else if frames.contains(where: isPark) {
                parkKinds += 1
                let named = frames.contains { $0.contains("java.util.concurrent.locks.ReentrantLock") }
                XCTAssertEqual(w.kind, named ? .mutex : .park, "\(frames)")
            }
        }
        print("JavaLocks: \(monitorKinds) wait entries on monitor stacks, \(parkKinds) on park stacks")
        XCTAssertGreaterThan(monitorKinds, 0)
        XCTAssertGreaterThan(parkKinds, 0)
    }
}
