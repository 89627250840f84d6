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
