import CLockstat
import Glibc

/// The BPF programs' run time, measured in windows. The kernel counts a program's run time only
/// while its statistics are on, at two clock reads a run: on this machine's VM that was 15 % of
/// the futex storm's throughput with lockstat's programs (BENCHMARKS.md, "The programs' run
/// time in windows"). So they are on for one sampling interval in `period` — the one after the
/// first sample (the program has started by then), then every `period`-th — by a BPF_ENABLE_STATS
/// descriptor (the kernel turns them off when the process ends, however it ends;
/// kernel.bpf_stats_enabled is never written), and the run's total is estimated from the windows
/// by `BPFRunTimeEstimate`.
final class BPFRunTimeWindows {
    static let period: UInt64 = 10
    private var descriptor: Int32 = -1
    private var samples: UInt64 = 0
    /// Whether the kernel refused the statistics (then no window, and no run time).
    private(set) var refused = false

    /// After a sample read the programs' run time: on for the next interval when it is a window.
    func sampled() {
        if samples % Self.period == 0 { switchOn() } else { switchOff() }
        samples += 1
    }

    func stop() { switchOff() }

    deinit { switchOff() }

    private func switchOn() {
        guard descriptor < 0, !refused else { return }
        let fd = ls_bpf_run_time_statistics_on()
        if fd < 0 { refused = true } else { descriptor = fd }
    }

    private func switchOff() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }
}

/// The run's BPF run time from counter snapshots taken at each sample, in order: an interval
/// in which the programs ran while counted (a window) adds what was measured; another adds its
/// count of events (the module's own count of what its programs handled: contention_begin runs,
/// futex calls) at the windows' time per event so far. Where the statistics were on all along
/// (someone else turned kernel.bpf_stats_enabled on), every interval is a window: the estimate is
/// the measurement.
struct BPFRunTimeEstimate {
    /// Estimated run time, ns.
    private(set) var nanoseconds: Double = 0
    /// Run time counted in the windows, ns.
    private(set) var measuredNanoseconds: UInt64 = 0
    private var windowEvents: UInt64 = 0
    private var last = (events: UInt64(0), runNanoseconds: UInt64(0), runs: UInt64(0))

    mutating func add(events: UInt64, runNanoseconds: UInt64, runs: UInt64) {
        let dEvents = events &- last.events, dNanoseconds = runNanoseconds &- last.runNanoseconds
        // A counter that went back (the programs were loaded again) starts over from it.
        let wentBack = events < last.events || runNanoseconds < last.runNanoseconds || runs < last.runs
        let dRuns = runs &- last.runs
        last = (events, runNanoseconds, runs)
        if wentBack { return }
        if dRuns > 0 {
            measuredNanoseconds += dNanoseconds
            windowEvents += dEvents
            nanoseconds += Double(dNanoseconds)
        } else if windowEvents > 0 {
            nanoseconds += Double(dEvents) * Double(measuredNanoseconds) / Double(windowEvents)
        }
    }
}
