import CLockstat
import Foundation
import Synchronization

/// lockstat's own messages on stderr: warnings always, the live progress line and the summary
/// unless --quiet; the progress line only on a terminal.
final class Console: @unchecked Sendable {
    let quiet: Bool
    private let lock = NSLock()
    private var progressShown = false

    init(quiet: Bool) { self.quiet = quiet }

    func warn(_ message: String) {
        lock.withLock {
            clearProgressLine()
            FileHandle.standardError.write(Data("lockstat: warning: \(message)\n".utf8))
        }
    }

    func summary(_ summary: RunSummary) {
        guard !quiet else { return }
        FileHandle.standardError.write(Data((summary.text + "\n").utf8))
    }

    /// The live line: elapsed time, samples, missed ticks; refreshed twice a second.
    func startProgress(modules: [SampledModule], start: UInt64) -> ProgressLine? {
        guard !quiet, isatty(2) != 0 else { return nil }
        let line = ProgressLine()
        let thread = Thread { [self] in
            while !line.stopped.load(ordering: .relaxed) {
                let elapsed = Double(ls_monotonic_ns() - start) / 1e9
                let samples = modules.reduce(0) { $0 + $1.counters.samples.load(ordering: .relaxed) }
                let missed = modules.reduce(0) { $0 + $1.counters.missed.load(ordering: .relaxed) }
                lock.withLock {
                    progressShown = true
                    FileHandle.standardError.write(Data(String(format: "\r\u{1B}[Klockstat: %.1f s, %d samples, %d missed ticks", elapsed, samples, missed).utf8))
                }
                usleep(500_000)
            }
            lock.withLock { clearProgressLine() }
            line.done.signal()
        }
        thread.start()
        return line
    }

    private func clearProgressLine() {
        if progressShown {
            FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
            progressShown = false
        }
    }
}

final class ProgressLine: Sendable {
    let stopped = Atomic<Bool>(false)
    let done = DispatchSemaphore(value: 0)

    func stop() {
        stopped.store(true, ordering: .relaxed)
        done.wait()
    }
}
