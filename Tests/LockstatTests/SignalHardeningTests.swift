import Foundation
import XCTest
@testable import LockstatCore
@testable import LockstatModules

/// Every way a run can be stopped ends it, puts back what presampling changed and leaves
/// nothing lockstat started behind: signals, programs that stop themselves, drop-ins that hang,
/// kill -9.
final class SignalHardeningTests: XCTestCase {
    func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

    /// Waits for lockstat to end; one still running after `seconds` is killed and fails the test.
    func waitForExit(_ p: Process, _ seconds: Double = 60, file: StaticString = #filePath, line: UInt = #line) -> Int32? {
        guard eventually(seconds, { !p.isRunning }) else {
            XCTFail("lockstat did not end within \(seconds) s", file: file, line: line)
            kill(p.processIdentifier, SIGKILL)
            p.waitUntilExit()
            return nil
        }
        p.waitUntilExit()
        return p.terminationStatus
    }

    /// lockstat-run with stderr kept in a file (read after it ended).
    func start(_ arguments: [String], stderr: String) throws -> Process {
        _ = FileManager.default.createFile(atPath: stderr, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat-run")
        p.arguments = ["--quiet"] + arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: stderr)
        try p.run()
        return p
    }

    /// A folder with module files (root's, 644; `executable` ones 755) and a config naming them.
    func moduleFolder(_ modules: [String: String], executable: Set<String> = [], config: String) throws -> String {
        let dir = temporaryDirectory(name)
        try FileManager.default.createDirectory(atPath: dir + "/mods", withIntermediateDirectories: true)
        for (file, text) in modules {
            try text.write(toFile: dir + "/mods/" + file, atomically: true, encoding: .utf8)
            try FileManager.default.setAttributes([.posixPermissions: executable.contains(file) ? 0o755 : 0o644],
                                                  ofItemAtPath: dir + "/mods/" + file)
        }
        try (config + "\nmodule_path mods\n").write(toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        return dir
    }

    func read(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Kills the process whose pid a module wrote to `file`, when it still runs `named` (a failed test leaves none behind).
    func killLeftover(pidIn file: String, named: String = "python3") {
        guard let pid = pid_t(read(file).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
              read("/proc/\(pid)/cmdline").contains(named) else { return }
        kill(pid, SIGKILL)
    }

    /// Skips the test when the contention module's bpf mode cannot run here.
    func requireBPFMode() throws {
        guard getuid() == 0 else { throw XCTSkip("SKIPPED: bpf mode needs root") }
        if let reason = ContentionModule().unavailableReason(SystemRoot()) ?? ContentionModule.bpfRefusal(SystemRoot()) {
            throw XCTSkip("SKIPPED: \(reason)")
        }
    }

    /// Whether `signal` sent to the process waits to be taken (ShdPnd of /proc/PID/status).
    func pending(_ signal: Int32, _ pid: pid_t) -> Bool {
        guard let line = read("/proc/\(pid)/status").split(separator: "\n").first(where: { $0.hasPrefix("ShdPnd:") }),
              let mask = UInt64(line.dropFirst(7).trimmingCharacters(in: .whitespaces), radix: 16) else { return false }
        return mask & (1 << UInt64(signal - 1)) != 0
    }

    // MARK: 1. every terminating signal ends the run as SIGTERM does

    /// HUP (a closed terminal), QUIT, USR1, USR2, ALRM, VTALRM, PROF, XCPU sent to lockstat: forwarded to the program,
    /// the run finishes with the program's status, run.json and the pickle written.
    func testEveryTerminatingSignalFinishesTheRun() throws {
        for sig in [SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU] {
            let dir = temporaryDirectory("signal\(sig)")
            let ready = dir + "/ready"
            let p = try start(["--modules", "stat", dir + "/run", "sh", "-c", "touch \(ready); exec sleep 60"], stderr: dir + "/err")
            XCTAssertTrue(eventually(30) { exists(ready) }, "the program started")
            kill(p.processIdentifier, sig)
            XCTAssertEqual(waitForExit(p), 128 + sig, "signal \(sig): \(read(dir + "/err"))")
            XCTAssertTrue(exists(dir + "/run/run.json"), "signal \(sig): run.json")
            XCTAssertTrue(exists(dir + "/run/samples.pickle"), "signal \(sig): samples.pickle")
        }
    }

    // MARK: 2a. a program that stopped itself

    /// The forwarded SIGTERM is followed by SIGCONT: a program that stopped itself still ends.
    func testAProgramThatStoppedItselfEndsOnSIGTERM() throws {
        let dir = temporaryDirectory()
        let p = try start(["--modules", "stat", dir + "/run", "sh", "-c", "echo $$ > \(dir)/pid; kill -STOP $$; exit 3"],
                          stderr: dir + "/err")
        // Ready once the program is stopped (state T in /proc/PID/stat).
        XCTAssertTrue(eventually(30) {
            guard let pid = Int(read(dir + "/pid").trimmingCharacters(in: .whitespacesAndNewlines)) else { return false }
            let stat = read("/proc/\(pid)/stat")
            return stat.split(separator: ")").last?.split(separator: " ").first == "T"
        }, "the program stopped itself")
        kill(p.processIdentifier, SIGTERM)
        XCTAssertEqual(waitForExit(p, 30), 128 + SIGTERM, read(dir + "/err"))
        XCTAssertTrue(exists(dir + "/run/run.json"))
    }

    // MARK: 2b. a drop-in call that hangs

    static func hangingModule(in operation: String, ready: String) -> String {
        """
        import os, time
        def \(operation)(test_dir, *rest):
            with open(\(String(reflecting: ready)), "w") as f:
                f.write(str(os.getpid()))
            time.sleep(100000)
        """
    }

    /// SIGTERM ends a drop-in's hung sample (the interpreter is killed) and the run finishes.
    func testSIGTERMEndsAHungSample() throws {
        let base = temporaryDirectory()
        let dir = try moduleFolder(["hang.py": Self.hangingModule(in: "sample", ready: base + "/ready")], config: "modules stat hang")
        defer { killLeftover(pidIn: base + "/ready") }
        let p = try start(["--config", dir + "/c.config", dir + "/run", "sleep", "60"], stderr: dir + "/err")
        XCTAssertTrue(eventually(30) { exists(base + "/ready") }, "the sample hangs")
        kill(p.processIdentifier, SIGTERM)
        XCTAssertEqual(waitForExit(p, 30), 128 + SIGTERM, read(dir + "/err"))
        XCTAssertTrue(exists(dir + "/run/run.json"))
        XCTAssertTrue(read(dir + "/run/samples/hang.errors").contains("python3 still running after lockstat got a terminating signal"),
                      read(dir + "/run/samples/hang.errors"))
    }

    /// SIGTERM or SIGHUP during a drop-in's hung presampling cancels the run, as a signal in presampling does
    /// (the call is killed 5 s after the signal, or at a second signal: twice SIGHUP).
    func testASignalEndsAHungPresampling() throws {
        for sig in [SIGTERM, SIGHUP] {
            let base = temporaryDirectory("presampling\(sig)")
            let dir = try moduleFolder(["hang.py": Self.hangingModule(in: "presampling", ready: base + "/ready")],
                                       config: "modules stat hang")
            defer { killLeftover(pidIn: base + "/ready") }
            let p = try start(["--config", dir + "/c.config", dir + "/run", "touch", base + "/program-ran"], stderr: dir + "/err")
            XCTAssertTrue(eventually(30) { exists(base + "/ready") }, "presampling hangs")
            kill(p.processIdentifier, sig)
            if sig == SIGHUP {
                XCTAssertTrue(eventually(10) { !pending(sig, p.processIdentifier) })
                kill(p.processIdentifier, sig)
            }
            XCTAssertEqual(waitForExit(p, 30), 128 + sig, read(dir + "/err"))
            XCTAssertTrue(read(dir + "/err").contains("cancelled by \(Program.signalName(sig))"), read(dir + "/err"))
            XCTAssertFalse(exists(base + "/program-ran"))
        }
    }

    /// NAME.timeout bounds every call: a hung sample is killed and counted, the run goes on and
    /// ends with the program's status; an executable module's hung call too.
    func testTheModuleTimeoutEndsAHungCall() throws {
        let base = temporaryDirectory()
        let executable = "#!/bin/sh\n[ \"$1\" = sample ] && { echo $$ > \(base)/exe-ready; exec sleep 100000; }\nexit 0\n"
        let dir = try moduleFolder(["hang.py": Self.hangingModule(in: "sample", ready: base + "/ready"), "stuck": executable],
                                   executable: ["stuck"], config: "modules stat hang stuck\nhang.timeout 0.5\nstuck.timeout 0.5")
        defer { killLeftover(pidIn: base + "/ready"); killLeftover(pidIn: base + "/exe-ready", named: "sleep") }
        // The program ends once both modules' hung calls were reported.
        let errors = dir + "/run/samples/"
        let wait = "until grep -q 'timed out' \(errors)hang.errors 2>/dev/null && grep -q 'timed out' \(errors)stuck.errors 2>/dev/null; do sleep 0.05; done"
        let p = try start(["--config", dir + "/c.config", dir + "/run", "sh", "-c", wait], stderr: dir + "/err")
        XCTAssertEqual(waitForExit(p, 60), 0, read(dir + "/err"))
        XCTAssertTrue(read(errors + "hang.errors").contains("timed out after 0.5 s (the module's timeout): killed"), read(errors + "hang.errors"))
        XCTAssertTrue(read(errors + "stuck.errors").contains("timed out after 0.5 s"), read(errors + "stuck.errors"))
    }

    /// NAME.timeout takes seconds in its range; anything else is a config error naming the line.
    func testTheModuleTimeoutIsChecked() throws {
        let dir = try moduleFolder(["quick.py": "def sample(d, t): pass\n"], config: "modules stat quick\nquick.timeout 0")
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(r.status, 2, r.err)
        XCTAssertTrue(r.err.contains("c.config:2") && r.err.contains("takes seconds from 0.1 to 86400"), r.err)
    }

    // MARK: 2c, 2d. files under module_path that are not modules

    /// A FIFO as a module file is refused in one line naming it (never opened: it would hang),
    /// by the run and by doctor.
    func testAFIFOModuleIsRefused() throws {
        let dir = try moduleFolder([:], config: "modules stat pipe")
        XCTAssertEqual(mkfifo(dir + "/mods/pipe.py", 0o644), 0)
        // Whoever still waits to read it (a failed test's interpreter) gets its end now.
        defer { let fd = open(dir + "/mods/pipe.py", O_WRONLY | O_NONBLOCK); if fd >= 0 { close(fd) } }
        let p = try start(["--config", dir + "/c.config", dir + "/run", "true"], stderr: dir + "/err")
        XCTAssertEqual(waitForExit(p, 30), 2, read(dir + "/err"))
        let lines = read(dir + "/err").split(separator: "\n")
        XCTAssertEqual(lines.count, 1, read(dir + "/err"))
        XCTAssertTrue(lines.first?.contains(dir + "/mods/pipe.py: not a regular file (a FIFO)") == true, read(dir + "/err"))
        let doctor = Process()
        doctor.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat")
        doctor.arguments = ["doctor", "--config", dir + "/c.config"]
        let out = dir + "/doctor"
        _ = FileManager.default.createFile(atPath: out, contents: nil)
        doctor.standardOutput = FileHandle(forWritingAtPath: out)
        doctor.standardError = FileHandle(forWritingAtPath: out)
        try doctor.run()
        _ = waitForExit(doctor, 60)
        XCTAssertTrue(read(out).contains("not a regular file (a FIFO)"), read(out))
        XCTAssertFalse(read(out).contains("Python 3 module"), read(out))
    }

    /// A folder under module_path is no module: one warning, and a config naming it is an unknown module.
    func testAFolderUnderTheModulePathIsNoModule() throws {
        let dir = try moduleFolder([:], config: "modules stat")
        try FileManager.default.createDirectory(atPath: dir + "/mods/folder", withIntermediateDirectories: false)
        let r = try Lockstat.run(["--config", dir + "/c.config", dir + "/run", "true"])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertEqual(r.err.components(separatedBy: "mods/folder: a folder, not a module; skipped").count - 1, 1, r.err)
        let named = try Lockstat.run(["--config", dir + "/c.config", "--modules", "stat,folder", dir + "/run2", "true"])
        XCTAssertEqual(named.status, 2, named.err)
        XCTAssertTrue(named.err.contains("unknown module 'folder'") || named.err.contains("folder"), named.err)
        XCTAssertFalse(exists(dir + "/run2/samples/folder.errors"), "never run as a program")
    }

    // MARK: 2e, 3. nothing lockstat changed or started outlives it

    /// The sampling interpreter of a drop-in, busy in a sample, is gone after kill -9 of lockstat
    /// and after a second SIGINT.
    func testADropInInterpreterDiesWithLockstat() throws {
        for ending in ["kill -9", "second SIGINT"] {
            let base = temporaryDirectory("interpreter\(ending.filter(\.isLetter))")
            let dir = try moduleFolder(["busy.py": Self.hangingModule(in: "sample", ready: base + "/ready")], config: "modules busy")
            defer { killLeftover(pidIn: base + "/ready") }
            // The program ignores SIGINT, so only the second one ends the run (and kills the program).
            let p = try start(["--config", dir + "/c.config", dir + "/run", "sh", "-c", "trap '' INT; exec sleep 60"], stderr: dir + "/err")
            var pid: pid_t = 0
            XCTAssertTrue(eventually(30) {
                pid = pid_t(read(base + "/ready").trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
                return pid > 0
            }, "the module is in its sample")
            if ending == "kill -9" {
                kill(p.processIdentifier, SIGKILL)
            } else {
                // Two signals pending at once are one: the second is sent once the first was taken.
                kill(p.processIdentifier, SIGINT)
                XCTAssertTrue(eventually(10) { !pending(SIGINT, p.processIdentifier) })
                kill(p.processIdentifier, SIGINT)
            }
            _ = waitForExit(p, 30)
            XCTAssertTrue(eventually(10) { kill(pid, 0) != 0 }, "\(ending): the drop-in's python3 (pid \(pid)) still runs")
        }
    }

    /// A run of the contention module (bpf mode, contention.bpf_time yes) whose program has started
    /// and whose programs' run time is counted (a BPF_ENABLE_STATS descriptor held), with the
    /// statistics switch as it was before.
    private func startContentionRun() throws -> (dir: String, process: Process, switchBefore: String) {
        try requireBPFMode()
        let switchBefore = bpfStatsSwitch()
        let dir = temporaryDirectory()
        try "modules contention\ncontention.mode bpf\ncontention.bpf_time yes\n".write(
            toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let p = try start(["--config", dir + "/c.config", dir + "/run", "sh", "-c", "touch \(dir)/ready; exec sleep 60"],
                          stderr: dir + "/err")
        XCTAssertTrue(eventually(60) { exists(dir + "/ready") && holdsBPFStatsDescriptor(p.processIdentifier) },
                      "the run counts its programs' run time: \(read(dir + "/err"))")
        XCTAssertEqual(bpfStatsSwitch(), switchBefore, "kernel.bpf_stats_enabled is not lockstat's to write")
        return (dir, p, switchBefore)
    }

    /// kill -9 of a run with the contention module (bpf mode): nothing to put back. Its statistics
    /// were on by a descriptor the kernel closes with the process, and kernel.bpf_stats_enabled was
    /// never written.
    func testKillNineLeavesTheBPFStatsSwitchAsItWas() throws {
        let (_, p, switchBefore) = try startContentionRun()
        let pid = p.processIdentifier
        kill(pid, SIGKILL)
        p.waitUntilExit()
        XCTAssertEqual(bpfStatsSwitch(), switchBefore)
    }

    /// SIGHUP to a run with the contention module (bpf mode): the run finishes, the switch as it was.
    func testHangupFinishesTheRunAndLeavesTheBPFStatsSwitch() throws {
        let (dir, p, switchBefore) = try startContentionRun()
        kill(p.processIdentifier, SIGHUP)
        XCTAssertEqual(waitForExit(p), 128 + SIGHUP, read(dir + "/err"))
        XCTAssertEqual(bpfStatsSwitch(), switchBefore)
        XCTAssertTrue(exists(dir + "/run/run.json"))
    }

    /// SIGHUP to `serve` with the contention module (bpf mode, contention.bpf_time yes): it stops
    /// with 0; it counted its programs' run time and left the statistics switch as it was.
    func testHangupStopsServeAndLeavesTheBPFStatsSwitch() throws {
        try requireBPFMode()
        let switchBefore = bpfStatsSwitch()
        let dir = temporaryDirectory()
        try "modules contention\ncontention.mode bpf\ncontention.bpf_time yes\n".write(
            toFile: dir + "/c.config", atomically: true, encoding: .utf8)
        let err = dir + "/err"
        _ = FileManager.default.createFile(atPath: err, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: Lockstat.binaries + "/lockstat")
        p.arguments = ["serve", "--config", dir + "/c.config", "--listen", "127.0.0.1:\(UInt16.random(in: 40000...49999))"]
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle(forWritingAtPath: err)
        try p.run()
        XCTAssertTrue(eventually(60) { read(err).contains("serving ") || !p.isRunning }, read(err))
        XCTAssertTrue(eventually(60) { holdsBPFStatsDescriptor(p.processIdentifier) }, "its programs' run time counted: \(read(err))")
        kill(p.processIdentifier, SIGHUP)
        XCTAssertEqual(waitForExit(p, 30), 0, read(err))
        XCTAssertEqual(bpfStatsSwitch(), switchBefore)
        XCTAssertTrue(read(err).contains("SIGHUP: stopped"), read(err))
    }
}
