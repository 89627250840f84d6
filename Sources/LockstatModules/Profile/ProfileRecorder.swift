import CLockstat
import Foundation
import LockstatCore

/// The profiler's sampling: one sampling event per online CPU, each with its ring; every tick
/// drains the rings into the raw log (stream c: CPU c), records verbatim, no decoding on the
/// hot path. The kernel writes the samples; lockstat only copies what accumulated.
final class ProfileRecorder: Recorder {
    static let dataPages: Int32 = 128       // 512 KiB per ring, as perf's default
    static let maxStack: Int32 = 127        // perf's default kernel.perf_event_max_stack
    private let rings = PerfRings(pages: dataPages)
    private let log: RawLogWriter

    /// Opens and enables the events (program scope: enabled at the program's exec).
    init(cpus: [Int32], frequency: UInt64, cycles: Bool, scopeProgram: Bool, log: RawLogWriter) throws {
        self.log = log
        for cpu in cpus {
            try rings.add(cpu: cpu) {
                ls_perf_open_sampler(scopeProgram ? getpid() : -1, cpu, frequency, cycles ? 1 : 0, scopeProgram ? 1 : 0, Self.maxStack)
            }
        }
        if !scopeProgram { rings.enable() }
    }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        rings.drain(into: log, tick: tick, time: time)
        return true
    }

    func postsampling() {
        rings.disable()
        _ = sample(tick: UInt64.max, time: ls_monotonic_ns())
        rings.close()
    }
}
