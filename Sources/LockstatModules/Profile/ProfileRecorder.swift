import CLockstat
import Foundation
import LockstatCore

/// The profiler's sampling: one sampling event per online CPU, each with its ring; every tick
/// drains the rings into the raw log (stream c: the c-th CPU), records verbatim, no decoding on
/// the hot path. The kernel writes the samples; lockstat only copies what accumulated.
///
/// With `randomPeriod`, each tick also gives every cpu-clock event a new period P' (which
/// restarts its timer from now), 2 to 10 % above or below the nominal P = 1 s / frequency, at
/// random: a fixed period samples a workload that runs on the same period (a 100 Hz timer
/// loop, a frame-paced thread, another 99 Hz job) always at the same phase, so it is seen
/// always or never. With P' the phase moves by 0.02–0.1 P per sample and sweeps the job's cycle
/// 1–5 times per 0.5 s drain interval. (A wider range is worse: P' = 1.5 P or 4/3 P visits only
/// 2 or 3 phases of such a job; BENCHMARKS.md has the figures.) The periods set are logged
/// (stream `periodStream`, one UInt64 per event, timed after the ioctls): the kernel keeps
/// reporting the period the event was opened with (PERF_SAMPLE_PERIOD is cpu-clock's last_period, which PERF_EVENT_IOC_PERIOD leaves alone),
/// and parse weighs each sample by the period it really had.
final class ProfileRecorder: Recorder {
    static let dataPages: Int32 = 128  // 512 KiB per ring, as perf's default
    /// Under oprofile.callgraph dwarf, each sample holds 8 KiB of stack: 2 MiB per ring holds
    /// ~250 of them, a drain interval's worth at 499 Hz.
    static let dwarfDataPages: Int32 = 512
    static let maxStack: Int32 = 127  // perf's default kernel.perf_event_max_stack
    /// oprofile.callgraph dwarf: the user stack copied per sample, perf's default for
    /// `--call-graph dwarf`; and the registers a DWARF unwinder can use: perf's x86 AX..IP
    /// (bits 0-8) and R8..R15 (16-23) of PERF_REG_X86_* (arch/x86/include/uapi/asm/perf_regs.h).
    static let dwarfStackBytes: UInt32 = 8192
    static let dwarfUserRegisters: UInt64 = 0x1ff | 0xff << 16
    private let rings: PerfRings
    private let log: RawLogWriter
    private let nominalPeriod: UInt64
    private let randomPeriod: Bool
    private var random = SystemRandomNumberGenerator()
    /// The periods just set, one per event: allocated once.
    private let periods: UnsafeMutableBufferPointer<UInt64>
    static let periodStream = RawLogStream.named(4)

    /// Opens and enables the events (program scope: enabled at the program's exec).
    init(
        cpus: [Int32], frequency: UInt64, cycles: Bool, scopeProgram: Bool, randomPeriod: Bool, dwarf: Bool,
        log: RawLogWriter
    ) throws {
        self.log = log
        rings = PerfRings(pages: dwarf ? Self.dwarfDataPages : Self.dataPages)
        nominalPeriod = 1_000_000_000 / frequency
        self.randomPeriod = randomPeriod && !cycles
        periods = .allocate(capacity: cpus.count)
        periods.initialize(repeating: nominalPeriod)
        for cpu in cpus {
            try rings.add(cpu: cpu) {
                ls_perf_open_sampler(
                    scopeProgram ? getpid() : -1, cpu, frequency, cycles ? 1 : 0, scopeProgram ? 1 : 0, Self.maxStack,
                    dwarf ? Self.dwarfUserRegisters : 0, dwarf ? Self.dwarfStackBytes : 0)
            }
        }
        if !scopeProgram { rings.enable() }
    }

    func sample(tick: UInt64, time: UInt64) -> Bool {
        rings.drain(into: log, tick: tick, time: time)
        if randomPeriod {
            for i in 0..<rings.count {
                let offset = nominalPeriod / 50 + random.next(upperBound: nominalPeriod * 2 / 25)  // 2–10 % of P
                periods[i] = random.next(upperBound: UInt64(2)) == 0 ? nominalPeriod - offset : nominalPeriod + offset
                rings.setPeriod(i, periods[i])
            }
            // Timed after the ioctls: an event's old period ends at its ioctl, and its new one
            // cannot give a sample before 0.9 P later.
            log.append(
                kind: .side, stream: Self.periodStream, tick: tick, time: ls_monotonic_ns(),
                payload: UnsafeRawBufferPointer(start: periods.baseAddress, count: rings.count * 8))
        }
        return true
    }

    deinit { periods.deallocate() }

    func postsampling() {
        rings.disable()
        rings.drain(into: log, tick: UInt64.max, time: ls_monotonic_ns())
        rings.close()
    }
}
