import CLockstat
import Foundation
import LockstatCore
import LockstatModules

/// `run --repeat N DIR PROGRAM…`: the program N times, one after another, after K warm-up
/// runs, into DIR/1 … DIR/N (warm-ups in DIR/warmup-1 …), then the set's summary in DIR. Each run
/// is a lockstat of its own (this executable again, with the same options), so each samples as
/// root and hands its directory over as a single run does, and a run that fails leaves the next
/// one untouched.
struct RepeatRun {
    let options: RunOptions
    /// The words that select the run command of this executable ("run" for lockstat, none for lockstat-run).
    let subcommand: [String]
    /// The set's command line after those words, as given: every option reaches each run.
    let commandLine: [String]

    func execute(count: Int, warmup: Int, stopOnFailure: Bool) throws -> Int32 {
        let dir = TestDirectory(options.directory)
        try dir.prepareForSet()
        // SIGINT and SIGTERM reach the current run (its lockstat forwards them to the program);
        // the set stops after it.
        ls_signals_install()
        var members = [RunSet.Member]()
        var stoppedBy: String?
        // Named as they come: nothing is laid out per run before the runs are made.
        let names = (0..<(warmup + count)).lazy.map { $0 < warmup ? "warmup-\($0 + 1)" : String($0 - warmup + 1) }
        for (i, name) in names.enumerated() {
            let status = try runOne(name)
            // Through the run's own directory descriptor (no symlink in DIR is followed).
            let seconds = RunMetadata.read(TestDirectory(dir.file(name))).seconds
            members.append(
                RunSet.Member(
                    directory: name, status: status, seconds: seconds ?? .nan, counted: i >= warmup && status == 0))
            if ls_signals_first() != 0 || status == 128 + SIGINT || status == 128 + SIGTERM {
                stoppedBy = "interrupted"
                break
            }
            if status != 0 && stopOnFailure {
                stoppedBy = "run \(name) failed (status \(status)) and --stop-on-failure"
                break
            }
        }
        // The summary reads the runs' pickles: as the directory's owner, as parse does.
        try Privileges.handOver(dir)
        var warnings = [String]()
        try RunSet.writeSummary(
            dir, members: members.filter { !$0.directory.hasPrefix("warmup-") }, warmup: warmup,
            modules: { try modules(ofTestDirectory: $0) }, warnings: &warnings)
        try Privileges.giveToInvokingUser(dir)
        for w in warnings { writeText(2, "lockstat: warning: \(w)\n") }
        let counted = members.filter(\.counted).count
        let failed = members.filter { $0.status != 0 }
        var line = "lockstat: set of \(count) runs in \(options.directory): \(counted) counted"
        if warmup > 0 { line += " (after \(warmup) warm-up runs)" }
        if !failed.isEmpty {
            line +=
                ", \(failed.count) failed and left out: "
                + failed.map { "\($0.directory) (status \($0.status))" }.joined(separator: ", ")
        }
        if let stoppedBy { line += "; stopped: \(stoppedBy)" }
        writeText(2, line + "; wrote \(dir.file(RunSet.summaryName))\n")
        if stoppedBy == "interrupted" { return 128 + (ls_signals_first() != 0 ? ls_signals_first() : SIGINT) }
        return failed.isEmpty ? 0 : 1
    }

    /// One run: this executable with the set's own command line, as member NAME (into
    /// DIR/NAME, the set's options left to the set); its status.
    func runOne(_ name: String) throws -> Int32 {
        let executable = try selfExecutable()
        let arguments = [executable] + subcommand + ["--set-member", name] + commandLine
        let pid = try Program.spawn(executable, arguments: arguments, outputFD: 2)
        ls_signals_set_child(pid)
        defer { ls_signals_set_child(0) }
        return Program.exitStatus(fromWaitStatus: ls_wait(pid))
    }

    func selfExecutable() throws -> String {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { throw LockstatError("/proc/self/exe: cannot find this executable to run again") }
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
