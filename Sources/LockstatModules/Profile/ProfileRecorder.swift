import CLockstat
import Foundation
import LockstatCore

/// The profiler's sampling: one sampling event per online CPU, each with its ring; every tick
/// drains the rings into the raw log (stream c: the c-th CPU), records verbatim, no decoding on
/// the hot path. The kernel writes the samples; lockstat only copies what accumulated.
///
/// With `randomPeriod`, each tick also gives every cpu-clock event a new period, uniform in
/// [P/2, 3P/2] around the nominal P = 1 s / frequency, which restarts its timer from now: a
/// fixed period samples a workload that runs on the same period (a 100 Hz timer loop, a
/// frame-paced thread, another 99 Hz job) always at the same phase, so it is seen always or
/// never. PERF_SAMPLE_PERIOD keeps each sample's own period, so time shares stay exact.
final class ProfileRecorder: Recorder {
    static let dataPages: Int32 = 128       // 512 KiB per ring, as perf's default
    static let maxStack: Int32 = 127        // perf's default kernel.perf_event_max_stack
    private let rings = PerfRings(pages: dataPages)
    private let log: RawLogWriter
    private let nominalPeriod: UInt64
    private let randomPeriod: Bool
    private var random = SystemRandomNumberGenerator()

    /// Opens and enables the events (program scope: enabled at the program's exec).
    init(cpus: [Int32], frequency: UInt64, cycles: Bool, scopeProgram: Bool, randomPeriod: Bool, log: RawLogWriter) throws {
        self.log = log
        nominalPeriod = 1_000_000_000 / frequency
        self.randomPeriod = randomPeriod && !cycles
        for cpu in cpus {
            try rings.add(cpu: cpu) {
                ls_perf_open_sampler(scopeProgram ? getpid() : -1, cpu, frequency, cycles ? 1 : 0, scopeProgram ? 1 : 0, Self.maxStack)
            }
        }
        if !scopeProgram { rings.enable() }
    }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        rings.drain(into: log, tick: tick, time: time)
        if randomPeriod {
            for i in 0..<rings.count { rings.setPeriod(i, nominalPeriod / 2 + random.next(upperBound: nominalPeriod)) }
        }
        return true
    }

    func postsampling() {
        rings.disable()
        rings.drain(into: log, tick: UInt64.max, time: ls_monotonic_ns())
        rings.close()
    }
}
