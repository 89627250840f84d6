import XCTest

@testable import LockstatModules

/// The kind rules for a HotSpot JVM's waits, on the frames (innermost first) that runs of
/// Tests/futex/JavaLocks.java under Debian's openjdk-17 gave.
final class FutexJavaKindTests: XCTestCase {
    static let monitorEnter = [
        "__futex_abstimed_wait_common", "pthread_cond_wait@@GLIBC_2.3.2", "os::PlatformEvent::park()",
        "ObjectMonitor::EnterI(JavaThread*)", "ObjectMonitor::enter(JavaThread*)",
        "ObjectSynchronizer::enter(Handle, BasicLock*, JavaThread*)",
        "SharedRuntime::complete_monitor_locking_C(oopDesc*, BasicLock*, JavaThread*)", "[unknown]",
    ]
    static let unsafePark = [
        "__futex_abstimed_wait_common", "pthread_cond_wait@@GLIBC_2.3.2", "Parker::park(bool, long)", "Unsafe_Park",
        "[unknown]", "[unknown]",
        "JavaCalls::call_helper(JavaValue*, methodHandle const&, JavaCallArguments*, JavaThread*)",
    ]

    /// A `synchronized` block's wait sleeps on its park event's condition variable inside
    /// ObjectMonitor::EnterI: a monitor, counted as contention (glibc's rules alone say condvar).
    func testSynchronizedIsAMonitor() {
        XCTAssertEqual(FutexKind.classify(Self.monitorEnter), .monitor)
        XCTAssertTrue(FutexKind.monitor.isContention)
        XCTAssertEqual(FutexKind.classify(Array(Self.monitorEnter.prefix(3))), .condvar)
        // The park event's own mutex, taken inside the same wait, is the monitor's wait too.
        XCTAssertEqual(
            FutexKind.classify(
                ["__lll_lock_wait", "pthread_mutex_lock@@GLIBC_2.2.5"] + Self.monitorEnter.dropFirst(2)), .monitor)
        // Taking the monitor back after Object.wait() returned is a monitor wait as well.
        XCTAssertEqual(
            FutexKind.classify([
                "pthread_cond_wait@@GLIBC_2.3.2", "os::PlatformEvent::park()",
                "ObjectMonitor::ReenterI(JavaThread*, ObjectWaiter*)",
                "ObjectMonitor::wait(long, bool, JavaThread*)", "JVM_MonitorWait",
            ]), .monitor)
    }

    /// Object.wait() sleeps in ObjectMonitor::wait: a condition variable's wait, not contention.
    func testObjectWaitIsACondvar() {
        let frames = [
            "__futex_abstimed_wait_common", "pthread_cond_timedwait@@GLIBC_2.3.2", "os::PlatformEvent::park(long)",
            "ObjectMonitor::wait(long, bool, JavaThread*)", "ObjectSynchronizer::wait(Handle, long, JavaThread*)",
            "JVM_MonitorWait",
        ]
        XCTAssertEqual(FutexKind.classify(frames), .condvar)
        XCTAssertFalse(FutexKind.classify(frames).isContention)
    }

    /// LockSupport.park with no named Java caller is `park`, not counted as contention: a
    /// ReentrantLock's waiter parks there, and so does an idle pool thread.
    func testUnsafeParkIsAPark() {
        XCTAssertEqual(FutexKind.classify(Self.unsafePark), .park)
        XCTAssertFalse(FutexKind.park.isContention)
        // Parker::park inlined into Unsafe_Park names the same wait.
        XCTAssertEqual(FutexKind.classify(["pthread_cond_wait@@GLIBC_2.3.2", "Unsafe_Park", "[unknown]"]), .park)
    }

    /// With a perf map naming the compiled Java frames, the innermost java.util.concurrent method
    /// tells a ReentrantLock's wait (mutex) from a Condition's (condvar), a read-write lock's
    /// and a Semaphore's; other callers leave `park`.
    func testParkToldByNamedJavaFrames() {
        func parked(_ java: [String]) -> FutexKind { FutexKind.classify(Self.unsafePark.prefix(4) + java) }
        XCTAssertEqual(
            parked([
                "void jdk.internal.misc.Unsafe.park(boolean, long)",
                "void java.util.concurrent.locks.ReentrantLock.lock()", "void JavaLocks.reentrantLocked(long)",
            ]), .mutex)
        XCTAssertEqual(
            parked([
                "void java.util.concurrent.locks.AbstractQueuedSynchronizer$ConditionObject.await()",
                "void java.util.concurrent.locks.ReentrantLock.lock()",
            ]), .condvar)
        XCTAssertEqual(
            parked(["void java.util.concurrent.locks.ReentrantReadWriteLock$ReadLock.lock()"]), .rwlock)
        XCTAssertEqual(parked(["void java.util.concurrent.Semaphore.acquire()"]), .semaphore)
        XCTAssertEqual(
            parked([
                "void jdk.internal.misc.Unsafe.park(boolean, long)",
                "java.lang.Object java.util.concurrent.LinkedBlockingQueue.take()",
                "void JavaLocks.reentrantLocked(long)",
            ]), .park)
    }

    /// The JVM's own locks (HotSpot's Mutex, os::PlatformMonitor) are glibc's mutexes and condvars.
    func testJvmInternalLocksAreGlibcs() {
        XCTAssertEqual(
            FutexKind.classify([
                "__futex_abstimed_wait_common", "pthread_cond_timedwait@@GLIBC_2.3.2",
                "os::PlatformMonitor::wait(long)",
                "Monitor::wait(long)",
            ]), .condvar)
        XCTAssertEqual(
            FutexKind.classify([
                "__lll_lock_wait", "pthread_mutex_lock@@GLIBC_2.2.5", "Mutex::lock_contended(Thread*)",
            ]),
            .mutex)
    }
}
