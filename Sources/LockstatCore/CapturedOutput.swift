import Foundation
import Glibc

/// DIR/output: the program's stdout and stderr on one descriptor, so they interleave as written.
/// With --tee the program writes into a pipe that a thread copies to the file and to the terminal.
final class CapturedOutput: @unchecked Sendable {
    private let fileFD: Int32
    private var pipeRead: Int32 = -1
    private var pipeWrite: Int32 = -1
    private let copied = DispatchSemaphore(value: 0)

    /// `fd`: DIR/output, opened for appending (TestDirectory.createFile); closed by finish().
    init(fd: Int32, tee: Bool) throws {
        fileFD = fd
        guard tee else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw LockstatError("pipe: \(String(cString: strerror(errno)))") }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        pipeRead = fds[0]
        pipeWrite = fds[1]
        Thread { [self] in copy() }.start()
    }

    /// The descriptor the program's stdout and stderr go to.
    var programFD: Int32 { pipeWrite >= 0 ? pipeWrite : fileFD }

    /// The program has its copy of the write end; ours must close so the copier sees EOF.
    func programStarted() {
        if pipeWrite >= 0 { close(pipeWrite); pipeWrite = -1 }
    }

    /// Waits for the copier to drain; gives up after 2 s when a background child of the
    /// program still holds the pipe open.
    func finish() {
        if pipeRead >= 0 {
            programStarted()
            _ = copied.wait(timeout: .now() + 2)
        }
        close(fileFD)
    }

    private func copy() {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(pipeRead, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { break }
            buffer.withUnsafeBytes {
                writeAll(fileFD, $0.baseAddress!, n)
                writeAll(1, $0.baseAddress!, n)
            }
        }
        close(pipeRead)
        copied.signal()
    }

    private func writeAll(_ fd: Int32, _ p: UnsafeRawPointer, _ count: Int) {
        var done = 0
        while done < count {
            let n = write(fd, p + done, count - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            done += n
        }
    }
}
