import CLockstat
import Foundation
import LockstatCore

/// The contention module's sampling: both tracepoints on every online CPU, a ring buffer each;
/// every tick drains the rings into the raw log (stream 2c: contention_begin on CPU c, 2c+1:
/// contention_end), records verbatim. Postsampling also keeps the task names (tasks that
/// exited by then show their tid).
final class ContentionRecorder: Recorder {
    static let dataPages: Int32 = 128  // 512 KiB per ring, as perf's default
    static let maxStack: Int32 = 32
    private let rings = PerfRings(pages: dataPages)
    private let log: RawLogWriter
    private let system: SystemRoot

    /// Opens and enables the events; throws with perf_event_open's reason.
    init(layout: TracepointLayout, cpus: [Int32], scopeProgram: Bool, system: SystemRoot, log: RawLogWriter) throws {
        self.log = log
        self.system = system
        for cpu in cpus {
            for (id, chain) in [(layout.beginID, true), (layout.endID, false)] {
                // Program scope: lockstat's own process with inherit and enable-on-exec, so
                // the program and its children are followed from their exec on.
                try rings.add(cpu: cpu) {
                    ls_perf_open_tracepoint(
                        UInt64(id), scopeProgram ? getpid() : Int32(-1), cpu, chain ? 1 : 0, Self.maxStack,
                        scopeProgram ? 1 : 0)
                }
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
        log.append(kind: .side, stream: ContentionModule.commStream, tick: 0, time: 0, text: TaskNames.read(system))
    }
}
