import Glibc
import XCTest
@testable import LockstatCore

/// Program.signalName reads the C list of the signals lockstat stops on (signals.c), so the two cannot drift.
final class SignalNameTests: XCTestCase {
    func testEachTerminatingSignalIsNamedAsKillSpellsIt() {
        let stopping: [(Int32, String)] = [
            (SIGHUP, "SIGHUP"), (SIGINT, "SIGINT"), (SIGQUIT, "SIGQUIT"), (SIGTERM, "SIGTERM"), (SIGUSR1, "SIGUSR1"),
            (SIGUSR2, "SIGUSR2"), (SIGALRM, "SIGALRM"), (SIGVTALRM, "SIGVTALRM"), (SIGPROF, "SIGPROF"),
            (SIGXCPU, "SIGXCPU"), (SIGSTKFLT, "SIGSTKFLT"), (SIGPWR, "SIGPWR"),
        ]
        for (signal, name) in stopping { XCTAssertEqual(Program.signalName(signal), name) }
    }

    func testASignalLockstatDoesNotStopOnIsNamedByItsNumber() {
        XCTAssertEqual(Program.signalName(SIGKILL), "SIG9")
        XCTAssertEqual(Program.signalName(SIGPIPE), "SIG13")
        XCTAssertEqual(Program.signalName(SIGCHLD), "SIG17")
    }
}
