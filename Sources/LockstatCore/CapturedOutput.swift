import CLockstat
import Glibc
import SystemPackage

/// DIR/output: the program's stdout and stderr on one descriptor, so they interleave as written.
/// With --tee the program writes into a pipe that a copier process (ls_spawn_copier) copies to
/// the file and to the terminal: it outlives lockstat, so a daemon the program left behind keeps
/// its output (and is not killed by SIGPIPE) after lockstat has returned.
final class CapturedOutput {
    private let fileFD: Int32
    private var pipeWrite: Int32 = -1
    private var copier: pid_t = 0

    /// `fd`: DIR/output, opened for appending (TestDirectory.createFile); closed by finish().
    init(fd: Int32, tee: Bool) throws {
        fileFD = fd
        guard tee else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LockstatError("pipe: \(SystemPackage.Errno(rawValue: errno).description)") }
        let pid = ls_spawn_copier(fds[0], fileFD, 1)
        close(fds[0])
        guard pid > 0 else {
            close(fds[1])
            throw LockstatError("--tee: cannot start the copier: \(SystemPackage.Errno(rawValue: -pid).description)")
        }
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        pipeWrite = fds[1]
        copier = pid
    }

    /// The descriptor the program's stdout and stderr go to.
    var programFD: Int32 { pipeWrite >= 0 ? pipeWrite : fileFD }

    /// The program has its copy of the write end; ours must close so the copier sees EOF.
    func programStarted() {
        if pipeWrite >= 0 {
            close(pipeWrite)
            pipeWrite = -1
        }
    }

    /// Gives the copier a moment to drain what the program wrote; a daemon of the program that
    /// still holds the pipe keeps it running after lockstat returns.
    func finish() {
        programStarted()
        if copier > 0 {
            var status: Int32 = 0
            for _ in 0..<50 where waitpid(copier, &status, WNOHANG) == 0 { usleep(10_000) }
        }
        close(fileFD)
    }
}
