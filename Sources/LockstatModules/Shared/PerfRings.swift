import CLockstat
import Foundation
import LockstatCore
import SystemPackage

/// perf events with a ring buffer each, drained verbatim into a module's raw log: the part the
/// contention and profile modules share. Stream n holds the records of the n-th event opened.
/// The drain buffer is allocated once, so a drain does not allocate.
final class PerfRings {
    private var fds: [Int32] = []
    private var rings: [OpaquePointer] = []
    private let buffer: UnsafeMutableRawPointer
    private let capacity: Int
    private let pages: Int32

    /// `pages` of ring per event (a power of two).
    init(pages: Int32) {
        self.pages = pages
        capacity = Int(pages) * Int(sysconf(Int32(_SC_PAGESIZE)))
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        close()
        buffer.deallocate()
    }

    /// Adds an event opened by `open` (an fd or -errno) on `cpu`; throws perf_event_open's reason.
    func add(cpu: Int32, _ open: () -> Int32) throws {
        let fd = open()
        guard fd >= 0 else {
            let e = -fd
            throw LockstatError(
                e == EACCES || e == EPERM
                    ? "needs root or perf_event_paranoid <= -1"
                    : "perf_event_open on CPU \(cpu): \(SystemPackage.Errno(rawValue: e).description)")
        }
        fds.append(fd)
        guard let ring = ls_ring_map(fd, pages) else {
            throw LockstatError("mmap of a perf ring buffer: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        rings.append(ring)
    }

    func enable() { fds.forEach { _ = ls_perf_enable($0) } }
    /// Event `index`'s sampling period (PERF_EVENT_IOC_PERIOD).
    func setPeriod(_ index: Int, _ period: UInt64) { _ = ls_perf_set_period(fds[index], period) }
    var count: Int { fds.count }
    func disable() { fds.forEach { _ = ls_perf_disable($0) } }

    /// The stream of the empty record that closes each drain: its time, taken after the
    /// drain, is later than every event the drain read, so it bounds the interval they fall in.
    static let drainedStream = RawLogStream.named(0)

    /// Every ring's records into the log, then the closing record.
    func drain(into log: RawLogWriter, tick: UInt64, time: UInt64) {
        for (stream, ring) in rings.enumerated() {
            let n = ls_ring_drain(ring, buffer, capacity)
            if n > 0 {
                log.append(
                    kind: .snapshot, stream: UInt16(stream), tick: tick, time: time,
                    payload: UnsafeRawBufferPointer(start: buffer, count: n))
            }
        }
        log.append(
            kind: .side, stream: Self.drainedStream, tick: tick, time: ls_monotonic_ns(),
            payload: UnsafeRawBufferPointer(start: buffer, count: 0))
    }

    func close() {
        rings.forEach { ls_ring_unmap($0) }
        fds.forEach { Glibc.close($0) }
        rings = []
        fds = []
    }
}
