import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Waker user stacks land in files the invoking user reads: under scope system only those of
/// that user's own processes are kept, never another user's (here root's).
final class WakerUserStackOwnershipTests: XCTestCase {
    /// Two mkdir storms at once, each on a directory of its own: `rootstorm` runs as root beside
    /// the run, `userstorm` is the run's program, run as nobody, and nobody invoked lockstat (as
    /// sudo would say). Each storm's directory lock is told apart by its owners' task names.
    func testAnotherUsersWakerUserStacksAreNotKept() throws {
        try requireContentionBPF()
        let nobody: uid_t = 65534
        let dir = temporaryDirectory(), storm = try compileContentionStorm("mkdir-storm.c")
        let rootStorm = dir + "/rootstorm", userStorm = dir + "/userstorm"
        try FileManager.default.copyItem(atPath: storm, toPath: rootStorm)
        try FileManager.default.copyItem(atPath: storm, toPath: userStorm)
        for d in ["/root-dir", "/user-dir"] {
            try FileManager.default.createDirectory(atPath: dir + d, withIntermediateDirectories: false)
        }
        XCTAssertEqual(chown(dir + "/user-dir", nobody, gid_t(nobody)), 0)
        XCTAssertEqual(chmod(dir, 0o755), 0)
        try "modules contention\ncontention.mode bpf\ncontention.scope system\ncontention.wakers yes\n"
            .write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let background = Process()
        background.executableURL = URL(fileURLWithPath: rootStorm)
        // Long enough to outlast the run however loaded the machine; its workers (forked) are
        // ended with it once the run is over.
        background.arguments = [dir + "/root-dir", "60", "4"]
        background.standardOutput = FileHandle.nullDevice
        try background.run()
        defer {
            _ = try? shell(["pkill", "-TERM", "-P", String(background.processIdentifier)])
            if background.isRunning { background.terminate() }
            background.waitUntilExit()
        }
        let r = try shell(
            [
                "env", "SUDO_UID=\(nobody)", "SUDO_GID=\(nobody)", Lockstat.binaries + "/lockstat-run", "--config",
                dir + "/c.config", dir + "/run", "setpriv", "--reuid=\(nobody)", "--regid=\(nobody)",
                "--clear-groups", userStorm, dir + "/user-dir", "3", "4",
            ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(background.isRunning, "the root storm ended before the run did: it overlapped only partly")
        let d = try Lockstat.samples(dir + "/run")["contention"]!
        let wakers = try XCTUnwrap(d["wakers"]?.listItems, "no waker rows in samples.pickle")
        // A lock is a storm's when that storm's workers owned it while others waited.
        var stormOf = [String: String]()
        for o in d["owners"]?.listItems ?? [] {
            guard let owner = o["owner"]?.string, let lock = o["lock"]?.string else { continue }
            if owner.hasSuffix(" rootstorm") { stormOf[lock] = "root" }
            if owner.hasSuffix(" userstorm") { stormOf[lock] = "user" }
        }
        func released(by storm: String) -> [PyValue] {
            wakers.filter {
                stormOf[$0["lock"]?.string ?? ""] == storm && $0["class"]?.string == "task"
                    && ($0["waker_stack"]?.string ?? "").contains("up_write")
            }
        }
        func describe(_ rows: [PyValue]) -> String {
            rows.map { "\($0["waker"]?.string ?? "") user [\($0["waker_user_stack"]?.string ?? "")]" }
                .joined(separator: "\n")
        }
        let rootRows = released(by: "root"), userRows = released(by: "user")
        XCTAssertFalse(rootRows.isEmpty, "the root storm's lock had no released waits\n\(stormOf)")
        XCTAssertFalse(userRows.isEmpty, "the program's lock had no released waits\n\(stormOf)")
        XCTAssertTrue(rootRows.allSatisfy { ($0["waker_user_stack"]?.string ?? "").isEmpty }, describe(rootRows))
        // The invoking user's own processes' user stacks are kept (so the rule is not "none").
        XCTAssertTrue(userRows.contains { !($0["waker_user_stack"]?.string ?? "").isEmpty }, describe(userRows))
    }
}
