import CLockstat
import Glibc
import SystemPackage

/// Appends records. The sampling path (`appendSnapshot`) reads straight into a preallocated buffer
/// behind the header and writes once: no allocation, no formatting, no file creation per sample.
public final class RawLogWriter {
    public let path: String
    private let fd: Int32
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Appends that failed (disk full, I/O error), the first one's errno; the run reports them.
    /// After a failure the log stays as it was before that append, and nothing more is appended.
    public private(set) var writeErrors = 0
    public private(set) var firstWriteError: Int32 = 0
    /// Bytes of whole records written.
    private var committed: off_t = 0
    /// While batching: where commits go instead of the file.
    private var batch: OpaquePointer?

    /// Appends to `path`, created when missing (the benchmark's scratch logs).
    public convenience init(path: String, initialCapacity: Int = 1 << 16) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw LockstatError(
                "\(path): cannot create raw sample log: \(SystemPackage.Errno(rawValue: errno).description)")
        }
        self.init(fd: fd, path: path, initialCapacity: initialCapacity)
    }

    /// Appends to the open `fd` (a test directory's, see TestDirectory.createFile); `path` names it in messages.
    public init(fd: Int32, path: String, initialCapacity: Int = 1 << 16) {
        self.path = path
        self.fd = fd
        committed = max(0, lseek(fd, 0, SEEK_END))
        capacity = initialCapacity
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 8)
    }

    deinit {
        finish()
        close(fd)
        buffer.deallocate()
    }

    /// From now on, records are staged in memory and written at most every `period` seconds
    /// as one zstd record by a thread of the log's own (batch.c): the sampling thread copies
    /// each record once and makes no write(2); kill -9 loses at most the last `period`.
    public func startBatching(period: Double = 1, level: Int32 = 1) {
        guard batch == nil, writeErrors == 0 else { return }
        batch = ls_batch_start(
            fd, period, level, RawLogFormat.batchKeyframeEvery, RawLogFormat.maxBatch,
            RawRecordKind.compressedBatch.rawValue, RawRecordKind.compressedBatchDelta.rawValue)
    }

    /// Writes what is staged and stops batching (after the last sample; a later record is written as it comes).
    public func finish() {
        guard let b = batch else { return }
        batch = nil
        var error: Int32 = 0
        let failed = ls_batch_finish(b, &error)
        committed = max(0, lseek(fd, 0, SEEK_END))
        if failed > 0 {
            if writeErrors == 0 { firstWriteError = error }
            writeErrors += Int(failed)
        }
    }

    /// Reads the whole of `source` (pread from offset 0 until EOF) as one snapshot record.
    /// Returns false when the read failed; nothing is appended then.
    @discardableResult
    public func appendSnapshot(of source: Int32, stream: UInt16, tick: UInt64, time: UInt64) -> Bool {
        // The sampler's hot path: pread(2) itself (a thrown error would box), retried on EINTR.
        var length = 0
        while true {
            if RawLogFormat.headerSize + length == capacity { grow() }
            let n = pread(
                source, buffer + RawLogFormat.headerSize + length,
                capacity - RawLogFormat.headerSize - length, off_t(length))
            if n < 0 {
                if errno == EINTR { continue }
                return false
            }
            if n == 0 { break }
            length += n
        }
        commit(kind: .snapshot, stream: stream, tick: tick, time: time, length: length)
        return true
    }

    /// Appends a record with the given payload (not for the per-tick path of file snapshots).
    public func append(
        kind: RawRecordKind, stream: UInt16 = 0, tick: UInt64, time: UInt64, payload: UnsafeRawBufferPointer
    ) {
        while RawLogFormat.headerSize + payload.count > capacity { grow() }
        if payload.count > 0 {
            (buffer + RawLogFormat.headerSize).copyMemory(from: payload.baseAddress!, byteCount: payload.count)
        }
        commit(kind: kind, stream: stream, tick: tick, time: time, length: payload.count)
    }

    public func append(kind: RawRecordKind, stream: UInt16 = 0, tick: UInt64, time: UInt64, text: String) {
        var text = text
        text.withUTF8 {
            append(kind: kind, stream: stream, tick: tick, time: time, payload: UnsafeRawBufferPointer($0))
        }
    }

    /// Records `count` ticks from `firstTick` on as missed.
    public func appendMissed(firstTick: UInt64, count: UInt64, time: UInt64) {
        buffer.storeBytes(of: count.littleEndian, toByteOffset: RawLogFormat.headerSize, as: UInt64.self)
        commit(kind: .missed, stream: 0, tick: firstTick, time: time, length: 8)
    }

    private func grow() {
        let bigger = UnsafeMutableRawPointer.allocate(byteCount: capacity * 2, alignment: 8)
        bigger.copyMemory(from: buffer, byteCount: capacity)
        buffer.deallocate()
        buffer = bigger
        capacity *= 2
    }

    private func commit(kind: RawRecordKind, stream: UInt16, tick: UInt64, time: UInt64, length: Int) {
        buffer.storeBytes(of: RawLogFormat.magic.littleEndian, toByteOffset: 0, as: UInt32.self)
        buffer.storeBytes(of: UInt32(length).littleEndian, toByteOffset: 4, as: UInt32.self)
        buffer.storeBytes(of: tick.littleEndian, toByteOffset: 8, as: UInt64.self)
        buffer.storeBytes(of: time.littleEndian, toByteOffset: 16, as: UInt64.self)
        buffer.storeBytes(of: stream.littleEndian, toByteOffset: 24, as: UInt16.self)
        buffer.storeBytes(of: kind.rawValue.littleEndian, toByteOffset: 26, as: UInt16.self)
        var crc = ls_crc32c(0, buffer, 28)
        crc = ls_crc32c(crc, buffer + RawLogFormat.headerSize, length)
        buffer.storeBytes(of: crc.littleEndian, toByteOffset: 28, as: UInt32.self)
        guard writeErrors == 0 else {
            writeErrors += 1
            return
        }
        let total = RawLogFormat.headerSize + length
        if let batch {
            // The header goes to the file at once: the log is readable from the first tick on,
            // whatever happens to the batches after it (a full disk, kill -9).
            // (A failed write is counted by the batch, and reported by `finish`.)
            if kind == .header {
                _ = ls_batch_write_now(batch, buffer, total)
            } else if ls_batch_stage(batch, buffer, total) != 0 {
                firstWriteError = ENOMEM
                writeErrors += 1
            }
            return
        }
        var done = 0
        while done < total {
            let n = write(fd, buffer + done, total - done)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                // Disk full or an I/O error: cut the half-written record off and stop, so the
                // log ends with its last whole record.
                firstWriteError = n < 0 ? errno : ENOSPC
                writeErrors += 1
                _ = ftruncate(fd, committed)
                return
            }
            done += n
        }
        committed += off_t(total)
    }
}
