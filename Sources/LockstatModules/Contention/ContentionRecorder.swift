import CLockstat
import Foundation
import LockstatCore

/// The contention module's sampling: both tracepoints on every online CPU, a ring buffer each;
/// every tick drains the rings into the raw log (stream 2c: contention_begin on CPU c, 2c+1:
/// contention_end), records verbatim. The drain buffer is allocated once. Postsampling also
/// keeps the task names (tasks that exited by then show their tid).
final class ContentionRecorder: Recorder {
    static let dataPages: Int32 = 128       // 512 KiB per ring, as perf's default
    static let maxStack: Int32 = 32
    private var fds: [Int32] = []
    private var rings: [OpaquePointer] = []
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private let log: RawLogWriter
    private let system: SystemRoot

    /// Opens and enables the events; throws with perf_event_open's reason.
    init(layout: TracepointLayout, cpus: [Int32], scopeProgram: Bool, system: SystemRoot, log: RawLogWriter) throws {
        self.log = log
        self.system = system
        capacity = Int(Self.dataPages) * Int(sysconf(Int32(_SC_PAGESIZE)))
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
        do {
            for cpu in cpus {
                for (id, chain) in [(layout.beginID, true), (layout.endID, false)] {
                    // Program scope: lockstat's own process with inherit and enable-on-exec, so
                    // the program and its children are followed from their exec on.
                    let fd = ls_perf_open_tracepoint(UInt64(id), scopeProgram ? getpid() : Int32(-1), cpu, chain ? 1 : 0, Self.maxStack, scopeProgram ? 1 : 0)
                    guard fd >= 0 else {
                        let e = -fd
                        throw LockstatError(e == EACCES || e == EPERM ? "needs root or perf_event_paranoid <= -1"
                                                                      : "perf_event_open on CPU \(cpu): \(String(cString: strerror(e)))")
                    }
                    fds.append(fd)
                    guard let ring = ls_ring_map(fd, Self.dataPages) else { throw LockstatError("mmap of a perf ring buffer: \(String(cString: strerror(errno)))") }
                    rings.append(ring)
                }
            }
        } catch {
            close()
            throw error
        }
        if !scopeProgram { fds.forEach { _ = ls_perf_enable($0) } }
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// The stream of the empty record that closes each drain: its time, taken after the
    /// drain, is later than every event the drain read, so it bounds the interval they fall in.
    static let drainedStream: UInt16 = 999

    func sample(tick: UInt64, time: UInt64) -> Bool {
        for (stream, ring) in rings.enumerated() {
            let n = ls_ring_drain(ring, buffer, capacity)
            if n > 0 { log.append(kind: .snapshot, stream: UInt16(stream), tick: tick, time: time, payload: UnsafeRawBufferPointer(start: buffer, count: n)) }
        }
        log.append(kind: .side, stream: Self.drainedStream, tick: tick, time: ls_monotonic_ns(), payload: UnsafeRawBufferPointer(start: buffer, count: 0))
        return true
    }

    func postsampling() {
        fds.forEach { _ = ls_perf_disable($0) }
        _ = sample(tick: UInt64.max, time: ls_monotonic_ns())
        close()
        recordTaskNames()
    }

    private func recordTaskNames() {
        var lines = [String]()
        let proc = system.path("/proc")
        for pid in (try? FileManager.default.contentsOfDirectory(atPath: proc)) ?? [] where pid.first?.isNumber == true {
            for tid in (try? FileManager.default.contentsOfDirectory(atPath: "\(proc)/\(pid)/task")) ?? [] {
                if case .success(let comm) = FileReader.readText("\(proc)/\(pid)/task/\(tid)/comm") {
                    lines.append("\(tid) \(comm.trimmingCharacters(in: .whitespacesAndNewlines))")
                }
            }
        }
        log.append(kind: .side, stream: ContentionModule.commStream, tick: 0, time: 0, text: lines.joined(separator: "\n"))
    }

    private func close() {
        rings.forEach { ls_ring_unmap($0) }
        fds.forEach { Glibc.close($0) }
        rings = []
        fds = []
    }
}
