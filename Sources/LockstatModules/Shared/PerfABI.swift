import CLockstat

/// The perf ring's record types and callchain markers, from <linux/perf_event.h>: typed once,
/// for the contention and profile readers alike.
enum PerfABI {
    /// The corresponding C constant is `PERF_RECORD_SAMPLE`.
    static let recordSample = PERF_RECORD_SAMPLE.rawValue
    /// The corresponding C constant is `PERF_RECORD_LOST`.
    static let recordLost = PERF_RECORD_LOST.rawValue
    /// The corresponding C constant is `PERF_RECORD_MMAP2`.
    static let recordMmap2 = PERF_RECORD_MMAP2.rawValue
    /// The corresponding C constant is `PERF_RECORD_COMM`.
    static let recordComm = PERF_RECORD_COMM.rawValue
    /// The corresponding C constant is `PERF_RECORD_FORK`.
    static let recordFork = PERF_RECORD_FORK.rawValue
    /// The corresponding C constant is `PERF_RECORD_EXIT`.
    static let recordExit = PERF_RECORD_EXIT.rawValue
    /// A COMM record that came with an exec. The corresponding C constant is `PERF_RECORD_MISC_COMM_EXEC`.
    static let miscCommExec = UInt16(PERF_RECORD_MISC_COMM_EXEC)
    /// The corresponding C constant is `PERF_CONTEXT_KERNEL`.
    static let contextKernel = UInt64(PERF_CONTEXT_KERNEL.rawValue)
    /// The corresponding C constant is `PERF_CONTEXT_USER`.
    static let contextUser = UInt64(PERF_CONTEXT_USER.rawValue)
    /// Callchain entries at or above it are context markers, not frames. The corresponding C
    /// constant is `PERF_CONTEXT_MAX`.
    static let contextMax = UInt64(PERF_CONTEXT_MAX.rawValue)
}
