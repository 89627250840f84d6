import CLockstat
import Foundation
import Synchronization

/// lockstat's own messages on stderr: warnings always, the live progress line and the summary
/// unless --quiet; the progress line only on a terminal.
final class Console: @unchecked Sendable {
    let quiet: Bool
    private let lock = NSLock()
    private var progressShown = false
    /// Every warning said, for run.json.
    private(set) var warnings: [String] = []

    init(quiet: Bool) { self.quiet = quiet }

    /// A line that is said even with --quiet: the run did not do what was asked.
    func error(_ message: String) {
        lock.withLock {
            clearProgressLine()
            writeText(2, "lockstat: \(message)\n")
        }
    }

    /// A line of what a long-running command is doing (serve's start and stop).
    func info(_ message: String) {
        lock.withLock { _ = writeText(2, "lockstat: \(message)\n") }
    }

    func warn(_ message: String) {
        lock.withLock {
            warnings.append(message)
            clearProgressLine()
            writeText(2, "lockstat: warning: \(message)\n")
        }
    }

    func summary(_ summary: RunSummary) {
        guard !quiet else { return }
        writeText(2, summary.text + "\n")
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
                    writeText(
                        2,
                        String(
                            format: "\r\u{1B}[Klockstat: %.1f s, %d samples, %d missed ticks", elapsed, samples, missed)
                    )
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
            writeText(2, "\r\u{1B}[K")
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
