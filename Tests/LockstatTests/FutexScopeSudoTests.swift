import CLockstat
import Foundation
import XCTest

@testable import LockstatCore
@testable import LockstatModules

/// futex.scope system under sudo: the files the invoking user can read hold no raw stack bytes
/// (the stack copies) of another user's process.
final class FutexScopeSudoTests: XCTestCase {
    /// nobody invokes lockstat through sudo (SUDO_UID, SUDO_GID) with futex.scope system; the
    /// program runs as nobody (setpriv) and, in turn, a set-user-ID-root copy of the same
    /// program (its memory root's: the kernel makes it undumpable); a third copy contends as root
    /// outside the run. The run's files are nobody's; their stack copies are all of nobody's own
    /// process; the other two processes' waits are still counted (scope system), without copies.
    func testNoStackCopiesOfAnotherUsersProcessUnderSudo() throws {
        try requireFutexModule()
        let nobody: uid_t = 65534
        let dir = temporaryDirectory()
        XCTAssertEqual(chmod(dir, 0o755), 0)
        let built = dir + "/futex_truth"
        try compileFutexTruth(at: built)
        let userTruth = dir + "/user_truth", suidTruth = dir + "/suid_truth", rootTruth = dir + "/root_truth"
        for copy in [userTruth, suidTruth, rootTruth] { try FileManager.default.copyItem(atPath: built, toPath: copy) }
        XCTAssertEqual(chmod(suidTruth, 0o4755), 0)
        let mount = try shell(["findmnt", "-n", "-o", "OPTIONS", "--target", dir])
        if mount.out.split(separator: ",").contains("nosuid") {
            throw XCTSkip("SKIPPED: \(dir) is on a nosuid file system")
        }

        let outside = Process()
        outside.executableURL = URL(fileURLWithPath: rootTruth)
        outside.arguments = ["60", "2"]
        outside.standardOutput = FileHandle.nullDevice
        try outside.run()
        defer {
            outside.terminate()
            outside.waitUntilExit()
        }
        try "modules futex\nfutex.scope system\n".write(toFile: dir + "/f.config", atomically: true, encoding: .utf8)
        let script = "\(userTruth) 1 2 && \(suidTruth) 1 2"
        let r = try shell([
            "env", "SUDO_UID=\(nobody)", "SUDO_GID=\(nobody)", Lockstat.binaries + "/lockstat-run", "--config",
            dir + "/f.config", dir + "/run", "setpriv", "--reuid=\(nobody)", "--regid=\(nobody)", "--clear-groups",
            "sh", "-c", script,
        ])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(outside.isRunning, "the outside program ran through the whole run")

        let log = dir + "/run/samples/futex.log"
        var st = stat()
        XCTAssertEqual(stat(log, &st), 0)
        XCTAssertEqual(st.st_uid, nobody, "the raw log is the invoking user's to read")
        let analysis = try FutexAnalysis(log: RawLog.read(path: log))
        var processOf = [String: UInt32]()
        for w in analysis.waits { processOf[analysis.processNames[w.wait.tgid] ?? "?", default: w.wait.tgid] = w.wait.tgid }
        let user = try XCTUnwrap(processOf["user_truth"], "\(processOf)")
        let suid = try XCTUnwrap(processOf["suid_truth"], "the set-user-ID program's waits are counted: \(processOf)")
        let root = try XCTUnwrap(processOf["root_truth"], "scope system counts the outside program: \(processOf)")
        XCTAssertEqual(root, UInt32(outside.processIdentifier))

        let raw = try RawLog.read(path: log)
        let stride = MemoryLayout<ls_futex_sample>.stride
        var copied = Set<UInt32>()
        for rec in raw.sideRecords(stream: FutexRecorder.samplesStream) {
            let b = raw.payloadBytes(rec)
            for i in 0..<(b.count / stride) {
                copied.insert(b.loadUnaligned(fromByteOffset: i * stride + 4, as: UInt32.self))
            }
        }
        XCTAssertTrue(copied.contains(user), "nobody's own program's stacks are copied: \(copied)")
        XCTAssertFalse(copied.contains(root), "no copy of root's outside program's stack: \(copied)")
        XCTAssertFalse(copied.contains(suid), "no copy of the set-user-ID-root program's stack: \(copied)")
    }
}
