import Glibc

/// Samples a large file that changes little (such as /proc/lock_stat) as zstd frames made
/// against the previous snapshot: only what changed costs space. Every `keyframeEvery`-th
/// snapshot stands alone, so a damaged record costs at most that many. Buffers are reused:
/// after the first samples nothing is allocated unless the file grows.
///
/// The file is opened anew for every sample: /proc/lock_stat takes its snapshot of the
/// statistics when it is opened (lock_stat_open in lockdep_proc.c), so a descriptor kept open
/// would read the same numbers forever.
public final class DeltaSnapshotRecorder: Recorder {
    public static let keyframeEvery: UInt64 = 60
    private let path: String
    private let log: RawLogWriter
    private let stream: UInt16
    private let zstd = Zstd()
    private var current = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
    private var previous = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 8)
    private var previousLength = 0
    private var frame = UnsafeMutableRawBufferPointer.allocate(byteCount: Zstd.bound(1 << 20), alignment: 8)
    private var taken: UInt64 = 0
    /// Bytes read and bytes stored, for the storage ratio.
    public private(set) var rawBytes = 0
    public private(set) var storedBytes = 0

    public init(path: String, log: RawLogWriter, stream: UInt16 = 0) throws {
        if let failure = FileReader.check(path) { throw LockstatError("\(path): \(failure.reason)") }
        self.path = path
        self.log = log
        self.stream = stream
    }

    deinit {
        current.deallocate()
        previous.deallocate()
        frame.deallocate()
    }

    public func sample(tick: UInt64, time: UInt64) -> Bool {
        // O_NONBLOCK: a FIFO in a replayed tree fails the pread instead of blocking the tick.
        let descriptor = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        // The sampler's hot path: pread(2) itself (a thrown error would box), retried on EINTR.
        var length = 0
        while true {
            if length == current.count { current = grown(current, keeping: length) }
            let n = pread(descriptor, current.baseAddress! + length, current.count - length, off_t(length))
            if n < 0 && errno == EINTR { continue }
            if n < 0 { return false }
            if n == 0 { break }
            length += n
        }
        // parse refuses a snapshot that decodes to more: not recorded, the sample fails.
        guard length <= RawLogFormat.maxSnapshot else { return false }
        if frame.count < Zstd.bound(length) { frame = grown(frame, keeping: 0, to: Zstd.bound(length)) }
        let keyframe = taken % Self.keyframeEvery == 0
        let reference = keyframe ? nil : UnsafeRawBufferPointer(rebasing: previous[0..<previousLength])
        let size = zstd.compress(UnsafeRawBufferPointer(rebasing: current[0..<length]), prefix: reference, into: frame)
        guard size > 0 else { return false }
        log.append(
            kind: keyframe ? .compressedSnapshot : .compressedDelta, stream: stream, tick: tick, time: time,
            payload: UnsafeRawBufferPointer(rebasing: frame[0..<size]))
        swap(&current, &previous)
        previousLength = length
        taken += 1
        rawBytes += length
        storedBytes += size + RawLogFormat.headerSize
        return true
    }

    public func postsampling() {}

    private func grown(
        _ buffer: UnsafeMutableRawBufferPointer, keeping: Int, to size: Int? = nil
    ) -> UnsafeMutableRawBufferPointer {
        let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: size ?? buffer.count * 2, alignment: 8)
        if keeping > 0 { bigger.copyMemory(from: UnsafeRawBufferPointer(rebasing: buffer[0..<keeping])) }
        buffer.deallocate()
        return bigger
    }
}
