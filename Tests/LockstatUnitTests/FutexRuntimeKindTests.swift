import XCTest

@testable import LockstatModules

/// The kind rules for runtimes' own locks, on the frame names real runs of them gave.
final class FutexRuntimeKindTests: XCTestCase {
    /// Rust's std::sync::Mutex sleeps in its futex module's Mutex::lock_contended: a mutex,
    /// whether the name is v0-mangled (as lockstat prints std's frames) or demangled.
    func testRustStdMutexIsAMutex() {
        XCTAssertEqual(
            FutexKind.classify([
                "syscall", "_RNvMNtNtNtNtCsjrHSEGnQ3l9_3std3sys4sync5mutex5futexNtB2_5Mutex14lock_contended",
                "futex_rust::lock_heavy::h937fa04425257583",
            ]), .mutex)
        XCTAssertEqual(
            FutexKind.classify(["syscall", "std::sys::unix::locks::futex::Mutex::lock_contended", "main"]), .mutex)
        // Rust's RwLock is a rwlock, as before.
        XCTAssertEqual(
            FutexKind.classify([
                "syscall", "_RNvMNtNtNtNtCsjrHSEGnQ3l9_3std3sys4sync6rwlock5futexNtB2_6RwLock14read_contended",
            ]), .rwlock)
    }

    /// glibc's priority-inheritance path (FUTEX_LOCK_PI) is a mutex's.
    func testPriorityInheritanceMutexIsAMutex() {
        XCTAssertEqual(FutexKind.classify(["__futex_lock_pi64", "__pthread_mutex_lock_full", "lock_pi"]), .mutex)
    }
}

extension FutexRuntimeKindTests {
    /// A wait inside CPython's take_gil or drop_gil is a GIL wait (contention), on the GIL's
    /// condition variable or on its mutex (frames from a run of an interpreter whose symbols name them).
    func testWaitInsideTakeGilIsTheGil() {
        let condvar = [
            "__futex_abstimed_wait_common", "pthread_cond_timedwait@@GLIBC_2.3.2", "take_gil",
            "_PyEval_EvalFrameDefault",
        ]
        XCTAssertEqual(FutexKind.classify(condvar), .gil)
        XCTAssertEqual(FutexKind.classify(["__lll_lock_wait", "pthread_mutex_lock@@GLIBC_2.2.5", "take_gil"]), .gil)
        XCTAssertTrue(FutexKind.gil.isContention)
        // Without take_gil's name (Debian's stripped python3) the same wait is a condvar's.
        XCTAssertEqual(
            FutexKind.classify([
                "__futex_abstimed_wait_common", "pthread_cond_timedwait@@GLIBC_2.3.2",
                "[unknown]", "_PyEval_EvalFrameDefault",
            ]), .condvar)
        // drop_gil's waits: on the GIL's mutex, and for another thread to take the GIL.
        XCTAssertEqual(FutexKind.classify(["__lll_lock_wait", "pthread_mutex_lock@@GLIBC_2.2.5", "drop_gil"]), .gil)
        XCTAssertEqual(
            FutexKind.classify(["pthread_cond_wait@@GLIBC_2.3.2", "drop_gil", "_PyEval_EvalFrameDefault"]), .gil)
    }
}
