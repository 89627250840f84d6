import CLockstat
import Foundation
import SystemPackage

/// The measured program: found on PATH like a shell would, started with its output captured.
public enum Program {
    /// The executable for `name`, or nil when it cannot be found or executed.
    public static func resolve(_ name: String, path searchPath: String?) -> String? {
        if name.contains("/") { return isExecutableFile(name) ? name : nil }
        for dir in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":", omittingEmptySubsequences: false)
        {
            let candidate = (dir.isEmpty ? "." : String(dir)) + "/" + name
            if isExecutableFile(candidate) { return candidate }
        }
        return nil
    }

    static func isExecutableFile(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && st.st_mode & S_IFMT == S_IFREG && access(path, X_OK) == 0
    }

    /// Starts `executable` with argv `arguments` (argv[0] first) and the current environment
    /// (or `environment`, NAME=VALUE words), stdout and stderr to `outputFD` (stderr to
    /// `errorFD` when given, stdin from `inputFD` when given). `beforeExec` gets the pid while
    /// the child still waits to exec (so whatever follows the program's process tree knows it
    /// before it can fork). Returns the pid.
    public static func spawn(
        _ executable: String, arguments: [String], environment: [String]? = nil, inputFD: Int32 = -1,
        outputFD: Int32, errorFD: Int32? = nil, beforeExec: (pid_t) -> Void = { _ in }
    ) throws -> pid_t {
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var envp: [UnsafeMutablePointer<CChar>?] = (environment ?? []).map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var spawned = ls_spawned()
        let pid =
            environment == nil
            ? ls_spawn(executable, &argv, environ, inputFD, outputFD, errorFD ?? outputFD, &spawned)
            : ls_spawn(executable, &argv, &envp, inputFD, outputFD, errorFD ?? outputFD, &spawned)
        // The pipes or the fork failed: lockstat's own failure (1), never "not found" (127).
        guard pid > 0 else { throw startFailure(arguments[0], errno: -pid, exitCode: 1) }
        beforeExec(pid)
        let started = ls_spawn_start(&spawned)
        guard started == 0 else { throw startFailure(arguments[0], errno: -started, exitCode: 127) }
        return pid
    }

    /// Why `program` did not start. Out of descriptors is lockstat's failure whichever step met
    /// it (exit 1, naming the limit); otherwise `exitCode`, with 127 for what execve refused.
    static func startFailure(_ program: String, errno err: Int32, exitCode: Int32) -> LockstatError {
        if err == EMFILE || err == ENFILE {
            var limit = rlimit()
            let soft =
                getrlimit(__rlimit_resource_t(RLIMIT_NOFILE.rawValue), &limit) == 0 ? String(limit.rlim_cur) : "unknown"
            let which =
                err == EMFILE
                ? "lockstat has as many files open as its limit allows (ulimit -n: \(soft))"
                : "the system has as many files open as its limit allows (fs.file-max)"
            return LockstatError("\(program): cannot start: \(which)", exitCode: 1)
        }
        let reason = SystemPackage.Errno(rawValue: err).description
        if exitCode == 127 { return LockstatError("\(program): command not found (\(reason))", exitCode: 127) }
        return LockstatError("\(program): cannot start (\(reason))", exitCode: exitCode)
    }

    /// SIGHUP, SIGTERM…: a terminating signal's name as kill -l spells it, with SIG; SIG9 for another.
    public static func signalName(_ signal: Int32) -> String {
        ls_signal_name(signal).map { String(cString: $0) } ?? "SIG\(signal)"
    }

    /// Starts the supervisor that puts back what lockstat changed and ends its helpers even when
    /// lockstat is killed; before anything is changed.
    public static func startSupervisor() throws {
        let r = ls_supervisor_start()
        guard r == 0 else {
            throw LockstatError(
                "cannot start the restoring supervisor (fork: \(SystemPackage.Errno(rawValue: -r).description))")
        }
    }

    /// The exit status lockstat reports: the program's own, or 128+N when signal N killed it.
    public static func exitStatus(fromWaitStatus status: Int32) -> Int32 {
        if ls_wifexited(status) != 0 { return ls_wexitstatus(status) }
        if ls_wifsignaled(status) != 0 { return 128 + ls_wtermsig(status) }
        return 1
    }
}

/// The command line as a shell would need it pasted back: each word single-quoted when needed.
public func shellQuoted(_ words: [String]) -> String {
    words.map { word in
        let safe =
            !word.isEmpty
            && word.unicodeScalars.allSatisfy {
                CharacterSetSafe.contains($0)
            }
        return safe ? word : "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
}

private enum CharacterSetSafe {
    static func contains(_ u: Unicode.Scalar) -> Bool {
        switch u {
        case "a"..."z", "A"..."Z", "0"..."9", "-", "_", ".", "/", ",", ":", "=", "+", "@", "%": return true
        default: return false
        }
    }
}
