import CLockstat
import Glibc

/// The kernel's BPF run-time statistics, on for the run where a module's `bpf_time yes` asks. The
/// kernel counts a program's run time only while they are on, at two clock reads a program run:
/// on the futex storm here that cost 15 % of its throughput, and windows of one sampling interval
/// in ten cost as much (the reads in contention_end lengthen the bucket lock's hold and the storm
/// stays in the slower way it falls into; BENCHMARKS.md, "The programs' run time"). So it is
/// the user's choice, and it is a BPF_ENABLE_STATS descriptor: the kernel turns the statistics off
/// when the process ends, however it ends, and kernel.bpf_stats_enabled is never written.
final class BPFRunTimeStatistics {
    private var descriptor: Int32 = -1
    /// Why the kernel refused them, when asked: the run's one-line warning.
    private(set) var refusal: String?

    init(on: Bool) {
        guard on else { return }
        let fd = ls_bpf_run_time_statistics_on()
        if fd >= 0 {
            descriptor = fd
        } else {
            refusal = "the kernel refused its BPF run-time statistics (BPF_ENABLE_STATS: \(String(cString: strerror(-fd)))): no BPF time"
        }
    }

    /// Whether the programs' run time is being counted.
    var isOn: Bool { descriptor >= 0 }

    func stop() {
        guard descriptor >= 0 else { return }
        close(descriptor)
        descriptor = -1
    }

    deinit { stop() }
}
